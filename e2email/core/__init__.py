"""Pure protocol logic: bytes and values in, values out; no sockets, files, subprocesses or clock."""
