"""`uait`: run the server and talk to it from a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from typing import Annotated

import httpx
import orjson
import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from universal_ai_tools.cli_admin import db_app, keys_app, prepare_database, users_app
from universal_ai_tools.llm.plugins import build_plugin_manager, provider_factories
from universal_ai_tools.llm.routing import ModelRegistry
from universal_ai_tools.observability.logs import configure_logging
from universal_ai_tools.settings import ConfigError, load_settings

app = typer.Typer(
    help="Universal AI Tools: a local-first AI platform server.", no_args_is_help=True
)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
console = Console()
errors = Console(stderr=True)

ServerUrl = Annotated[str, typer.Option("--url", envvar="UAIT_URL", help="The server to talk to.")]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="UAIT_TOKEN", help="API key or access token.", show_default=False
    ),
]


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except ValueError:
        return f"HTTP {response.status_code}"
    return str(error.get("message") if isinstance(error, dict) else error)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Start the server (embedded model and SQLite unless configured otherwise)."""
    if host is not None:
        os.environ["UAIT_HOST"] = host
    if port is not None:
        os.environ["UAIT_PORT"] = str(port)
    try:
        settings = load_settings()
        ModelRegistry(settings, provider_factories(build_plugin_manager()))
    except (ConfigError, ValueError) as exc:
        raise _fail(f"invalid configuration: {exc}") from None
    configure_logging(settings.log_level, settings.observability.log_json)
    if workers > 1:
        # Once, before the workers start together: on an empty database they would all
        # run the migrations and try to create the first owner at the same time.
        asyncio.run(prepare_database())
    with contextlib.ExitStack() as stack:
        if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # every worker writes its metrics here, and /metrics adds them up; removed
            # when the server stops
            metrics_dir = tempfile.TemporaryDirectory(prefix="uait-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = stack.enter_context(metrics_dir)
        console.print(
            f"[bold]Universal AI Tools[/bold] on http://{settings.host}:{settings.port} "
            f"({workers} worker{'s' if workers > 1 else ''})"
        )
        uvicorn.run(
            "universal_ai_tools.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers if not reload else None,
            reload=reload,
            log_level=settings.log_level,
            log_config=None,
            access_log=False,
            http="httptools",
            loop="uvloop",
        )


@app.command()
def models(url: ServerUrl = "http://127.0.0.1:8000", api_key: ApiKey = None) -> None:
    """List the server's models and the health of their backends."""
    try:
        response = httpx.get(f"{url}/v1/models", headers=_headers(api_key), timeout=15)
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise _fail(_error_message(response))
    table = Table("model", "tier", "aliases", "backend", "target", "state", "healthy")
    colours = {"closed": "green", "half-open": "yellow", "open": "red"}
    for card in response.json()["data"]:
        extension = card.get("uait", {})
        aliases = ", ".join(extension.get("aliases", []))
        deployments = extension.get("deployments", [])
        if not deployments:  # `auto` picks a model per request
            table.add_row(card["id"], extension.get("tier", ""), aliases, "", "", "", "")
        for deployment in deployments:
            healthy = "[green]yes[/green]" if deployment["healthy"] else "[red]no[/red]"
            state = deployment.get("state", "closed")
            table.add_row(
                card["id"],
                extension.get("tier", ""),
                aliases,
                deployment["backend"],
                deployment["target"],
                f"[{colours.get(state, 'white')}]{state}[/]",
                healthy,
            )
    console.print(table)


@app.command()
def chat(
    model: Annotated[str, typer.Argument(help="Model name or alias.")] = "default",
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Send one message and exit.")
    ] = None,
    system: Annotated[str | None, typer.Option(help="A system prompt.")] = None,
    conversation: Annotated[
        str | None,
        typer.Option(
            "--conversation", "-c", help="Store the chat in this conversation (`new` starts one)."
        ),
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent", "-a", help="Chat with an agent.")] = None,
    url: ServerUrl = "http://127.0.0.1:8000",
    api_key: ApiKey = None,
) -> None:
    """Chat with a model in the terminal; answers stream as they are generated.

    With --conversation the server keeps the history: only each new turn is sent.
    """
    history: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    interactive = message is None
    model = f"agent:{agent}" if agent else model
    headers = _headers(api_key)
    if conversation is not None:
        conversation = _conversation(url, headers, conversation)
        headers["X-UAIT-Conversation"] = conversation
    if interactive:
        where = f" in conversation {conversation}" if conversation else ""
        console.print(
            f"Chatting with [bold]{model}[/bold]{where}. /reset clears, /exit or Ctrl-D quits."
        )
    with httpx.Client(base_url=url, headers=headers, timeout=None) as client:
        while True:
            text = message if message is not None else _ask()
            if text is None or text.strip() in ("/exit", "/quit"):
                return
            if text.strip() == "/reset":
                del history[int(bool(system)) :]
                continue
            if not text.strip():
                continue
            history.append({"role": "user", "content": text})
            sent = history[-1:] if conversation else history  # the server keeps the rest
            answer = _stream_answer(client, model, sent)
            history.append({"role": "assistant", "content": answer})
            if not interactive:
                return


def _conversation(url: str, headers: dict[str, str], wanted: str) -> str:
    """The id of an existing conversation, or of a new one for `new`."""
    try:
        if wanted == "new":
            response = httpx.post(f"{url}/conversations", json={}, headers=headers, timeout=30)
        else:
            response = httpx.get(f"{url}/conversations/{wanted}", headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {url}: {type(exc).__name__}") from None
    if response.status_code not in (200, 201):
        raise _fail(_error_message(response))
    return str(response.json()["id"])


def _ask() -> str | None:
    try:
        return console.input("[bold cyan]you>[/bold cyan] ")
    except (EOFError, KeyboardInterrupt):
        console.print()
        return None


def _stream_answer(client: httpx.Client, model: str, history: list[dict[str, str]]) -> str:
    body = {"model": model, "messages": history, "stream": True}
    parts: list[str] = []
    try:
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                response.read()
                raise _fail(_error_message(response))
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = orjson.loads(line[6:])
                if "error" in chunk:
                    raise _fail(chunk["error"].get("message", "the stream failed"))
                for choice in chunk.get("choices", []):
                    piece = choice.get("delta", {}).get("content") or ""
                    parts.append(piece)
                    sys.stdout.write(piece)
                    sys.stdout.flush()
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach the server: {type(exc).__name__}") from None
    except KeyboardInterrupt:
        console.print("\n[dim](stopped)[/dim]")
    sys.stdout.write("\n")
    return "".join(parts)


def main() -> None:
    app()
