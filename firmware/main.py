# Runs at boot on the board (and on the virtual board).
import app

app.main()
