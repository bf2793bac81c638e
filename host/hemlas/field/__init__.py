"""The field client's side of the fleet service: this device's enrolment (service.py), its
outbox (outbox.py), sending it and fetching keys ahead (sending.py), and what field commands
do with a connection's results when logged in (session.py). Nothing here loads the fleet
store (SQLAlchemy): a carer's phone has none."""
