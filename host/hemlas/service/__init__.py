"""The fleet service: one ASGI application (FastAPI) over the fleet store, for a municipality's
coordinators (browsers) and carers' field clients (device tokens). `hemlas serve` runs it under
uvicorn; docs/service.md says what it offers.

Layout: app.py builds the application; problems.py turns the domain's refusals into RFC 9457
problem details; deps.py resolves the caller once per request; api_*.py are the routers, each
translating HTTP to one call of the domain layer (hemlas.fleet) and back, no rule of their own.
"""
