# Makes boards/ a package data location for the host (hemlas.boardfiles). Not deployed to boards.
