"""The command line: click commands that parse options, call one service and render (the sendmail path avoids click)."""
