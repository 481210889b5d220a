ROUTE_HANDLERS: list = []
