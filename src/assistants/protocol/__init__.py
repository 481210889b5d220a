"""Wire types of the Assistants API (msgspec Structs), their codec and row conversions.

`chat.py` (chat completions), `models.py` (/v1/models) and `jsonschema.py` (the schema subset
constrained decoding enforces) live here too but are not re-exported: import them directly.
"""

from assistants.protocol.assistants import Assistant, CreateAssistantRequest, UpdateAssistantRequest
from assistants.protocol.codec import decode, encoder
from assistants.protocol.common import (
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P,
    UNSET,
    Deleted,
    LastError,
    ListResponse,
    Metadata,
    UnsetType,
    Usage,
    list_response,
)
from assistants.protocol.convert import (
    assistant_object,
    message_object,
    run_object,
    step_object,
    thread_object,
    to_json_value,
)
from assistants.protocol.messages import (
    CreateMessageRequest,
    IncompleteDetails,
    Message,
    MessageContent,
    Text,
    TextContent,
    UpdateMessageRequest,
    content_text,
)
from assistants.protocol.run_status import ACTIVE_STATUSES, RunStatus
from assistants.protocol.runs import (
    CreateRunRequest,
    CreateThreadAndRunRequest,
    RequiredAction,
    RequiredActionFunction,
    RequiredActionToolCall,
    Run,
    SubmitToolOutputs,
    SubmitToolOutputsRequest,
    ToolOutput,
    UpdateRunRequest,
)
from assistants.protocol.steps import (
    FunctionCall,
    FunctionToolCall,
    MessageCreation,
    MessageCreationDetails,
    RunStep,
    StepDetails,
    ToolCallsDetails,
)
from assistants.protocol.threads import CreateThreadRequest, Thread, UpdateThreadRequest
from assistants.protocol.tools import (
    FunctionDefinition,
    FunctionTool,
    ResponseFormat,
    Tool,
    ToolChoice,
    ToolChoiceFunction,
    ToolResources,
    TruncationStrategy,
    check_tool_choice,
)

__all__ = [
    "ACTIVE_STATUSES", "DEFAULT_TEMPERATURE", "DEFAULT_TOP_P", "UNSET", "Assistant", "CreateAssistantRequest",
    "CreateMessageRequest", "CreateRunRequest", "CreateThreadAndRunRequest", "CreateThreadRequest",
    "Deleted", "FunctionCall", "FunctionDefinition", "FunctionTool", "FunctionToolCall", "IncompleteDetails",
    "LastError", "ListResponse", "Message", "MessageContent", "MessageCreation", "MessageCreationDetails",
    "Metadata", "RequiredAction", "RequiredActionFunction", "RequiredActionToolCall", "ResponseFormat", "Run",
    "RunStatus", "RunStep", "StepDetails", "SubmitToolOutputs", "SubmitToolOutputsRequest", "Text",
    "TextContent", "Thread", "Tool", "ToolCallsDetails", "ToolChoice", "ToolChoiceFunction", "ToolOutput",
    "ToolResources", "TruncationStrategy", "UnsetType", "UpdateAssistantRequest", "UpdateMessageRequest",
    "UpdateRunRequest", "UpdateThreadRequest", "Usage", "assistant_object", "check_tool_choice",
    "content_text", "decode", "encoder", "list_response", "message_object", "run_object", "step_object",
    "thread_object", "to_json_value",
]
