from assistants.api.chat import create_chat_completion, create_completion
from assistants.api.models import inference_debug, list_models, retrieve_model

ROUTE_HANDLERS: list = [
    create_chat_completion,
    create_completion,
    list_models,
    retrieve_model,
    inference_debug,
]
