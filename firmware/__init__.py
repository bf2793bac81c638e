# Makes firmware/ importable by the host as hemlas.firmware (shared modules: wire). Not deployed to boards.
