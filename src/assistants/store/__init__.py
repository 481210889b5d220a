"""Persistence: typed tables, the Database (sessions), and one repository module per resource.

Repository functions take an AsyncSession from `database.write()` / `database.read()` and return
records (column name -> value mappings whose names are the wire names; see `protocol.convert`).
"""

from assistants.store.assistants import (
    create_assistant,
    delete_assistant,
    get_assistant,
    list_assistants,
    update_assistant,
)
from assistants.store.database import Database, Session
from assistants.store.events import append_event
from assistants.store.ids import new_id, now
from assistants.store.messages import (
    create_message,
    create_run_message,
    delete_message,
    get_message,
    insert_messages,
    list_messages,
    list_thread_messages,
    require_thread,
    update_message,
    update_message_columns,
)
from assistants.store.models import Base
from assistants.store.pagination import Page, PageRequest, page_request
from assistants.store.records import Record
from assistants.store.runs import (
    RUN_TTL_SECONDS,
    active_run_id,
    cancel_run,
    count_runs_by_status,
    create_run,
    effective_run_values,
    get_run,
    list_runs,
    update_run,
    update_run_columns,
)
from assistants.store.steps import create_step, get_step, list_steps, steps_of_run, update_step_columns
from assistants.store.threads import create_thread, delete_thread, get_thread, list_threads, update_thread

__all__ = [
    "RUN_TTL_SECONDS", "Base", "Database", "Page", "PageRequest", "Record", "Session", "active_run_id",
    "append_event",
    "cancel_run", "count_runs_by_status", "create_assistant", "create_message",
    "create_run", "create_run_message",
    "create_step", "create_thread", "delete_assistant", "delete_message", "delete_thread",
    "effective_run_values", "get_assistant", "get_message", "get_run", "get_step",
    "get_thread", "insert_messages", "list_assistants", "list_messages", "list_runs", "list_steps",
    "list_thread_messages", "list_threads", "new_id", "now", "page_request", "require_thread",
    "steps_of_run", "update_assistant", "update_message", "update_message_columns",
    "update_run", "update_run_columns", "update_step_columns", "update_thread",
]
