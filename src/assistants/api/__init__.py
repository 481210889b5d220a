from assistants.api import ops

ROUTE_HANDLERS: list = [*ops.ROUTES]
