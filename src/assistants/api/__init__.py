from assistants.api import ops
from assistants.api.anthropic import ROUTES as ANTHROPIC_ROUTES
from assistants.api.assistants import AssistantsController
from assistants.api.chat import create_chat_completion, create_completion
from assistants.api.embeddings import create_embeddings
from assistants.api.events import ROUTES as EVENT_ROUTES
from assistants.api.files import FilesController
from assistants.api.messages import MessagesController
from assistants.api.models import ROUTES as MODEL_ROUTES
from assistants.api.playground import ROUTES as PLAYGROUND_ROUTES
from assistants.api.runs import RunsController, create_thread_and_run
from assistants.api.steps import StepsController
from assistants.api.threads import ThreadsController
from assistants.api.tokens import ROUTES as TOKEN_ROUTES
from assistants.api.vector_stores import ROUTES as VECTOR_STORE_ROUTES

ROUTE_HANDLERS: list = [
    AssistantsController, ThreadsController, MessagesController, RunsController, create_thread_and_run,
    StepsController, *EVENT_ROUTES,
    create_chat_completion,
    create_completion,
    *ANTHROPIC_ROUTES,
    *MODEL_ROUTES,
    *TOKEN_ROUTES,
    *ops.ROUTES,
    *PLAYGROUND_ROUTES,
    create_embeddings, FilesController, *VECTOR_STORE_ROUTES,
]
