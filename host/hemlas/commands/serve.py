"""`hemlas serve`: the fleet service (hemlas.service) under uvicorn, over the configured fleet
store (HEMLAS_STORE: an SQLite file by default, a PostgreSQL URL for a municipality)."""

from __future__ import annotations

from ..fleet.errors import FleetError, StoreMissingError
from ..fleet.store import FleetStore
from ..i18n import _

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(cmd) -> None:
    cmd.add_argument("--host", default="127.0.0.1",
                     help="the address to listen on (default 127.0.0.1: this machine only; "
                          "0.0.0.0 for every interface, behind a TLS proxy)")
    cmd.add_argument("--port", type=int, default=8080, help="the port (default 8080)")
    cmd.add_argument("--no-retention", action="store_true",
                     help=_("do not run the daily retention (docs/privacy.md): a timer runs "
                            "`hemlas privacy retain` instead"))


def do_serve(args) -> None:
    import uvicorn

    from ..service.app import API_PREFIX, create_app

    try:
        store = FleetStore()
    except StoreMissingError as err:
        raise FleetError(f"{err}; for the service, `hemlas accounts add` makes it with its "
                         f"first account") from err
    stop_retention = None
    try:
        if not args.no_retention:  # daily, from now; refused at once if the settings are wrong
            from ..fleet import retention
            from ..fleet.roles import local_caller

            retention.policy()
            stop_retention = retention.run_daily(store, local_caller("serve"))
        config = uvicorn.Config(create_app(store), host=args.host, port=args.port,
                                proxy_headers=True, server_header=False, log_level="info")
        server = _server_class()
        server(config, f"(OpenAPI: {API_PREFIX}/openapi.json), store {store._where}",
                API_PREFIX, args.host).run()
    finally:
        if stop_retention is not None:
            stop_retention()
        store.close()


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """Says where it listens once it does (the port bound: --port 0 picks a free one),
        flushed: a script (./dev.sh demo, a test) waits for that line."""

        def __init__(self, config, about: str, prefix: str, host: str):
            super().__init__(config)
            self._about, self._prefix, self._host = about, prefix, host

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if not self.started:
                return  # uvicorn said why (the port taken, ...) and exits
            port = self.servers[0].sockets[0].getsockname()[1] if self.servers else self.config.port
            where = f"[{self._host}]" if ":" in self._host else self._host
            print(f"hemlas serve: the fleet service on http://{where}:{port}{self._prefix}/ "
                  f"{self._about}", flush=True)
            if self._host not in _LOOPBACK:
                print("hemlas serve: listening beyond this machine: put it behind HTTPS (a TLS "
                      "proxy); session cookies are sent Secure there", flush=True)

    return Server
