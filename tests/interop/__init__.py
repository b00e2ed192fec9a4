"""The client interop matrix: e2email's mail read by NSS, GMime and SOP engines, and theirs read by e2email."""
