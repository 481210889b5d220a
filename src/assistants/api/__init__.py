from assistants.api.assistants import AssistantsController
from assistants.api.events import ROUTES as EVENT_ROUTES
from assistants.api.messages import MessagesController
from assistants.api.runs import RunsController, create_thread_and_run
from assistants.api.steps import StepsController
from assistants.api.threads import ThreadsController

ROUTE_HANDLERS: list = [
    AssistantsController, ThreadsController, MessagesController, RunsController, create_thread_and_run,
    StepsController, *EVENT_ROUTES,
]
