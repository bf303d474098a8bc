-- The same tables as the PostgreSQL schema; arrays and JSON are JSON text, times are UTC text.
CREATE TABLE IF NOT EXISTS "LiteLLM_BudgetTable" (
    budget_id TEXT PRIMARY KEY,
    max_budget REAL,
    soft_budget REAL,
    max_parallel_requests INTEGER,
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    model_max_budget TEXT,
    budget_duration TEXT,
    budget_reset_at TEXT,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_by TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_by TEXT NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS "LiteLLM_VerificationToken" (
    token TEXT PRIMARY KEY,
    key_name TEXT,
    key_alias TEXT,
    soft_budget_cooldown BOOLEAN NOT NULL DEFAULT 0,
    spend REAL NOT NULL DEFAULT 0,
    expires TEXT,
    models TEXT DEFAULT '[]',
    aliases TEXT NOT NULL DEFAULT '{}',
    config TEXT NOT NULL DEFAULT '{}',
    user_id TEXT,
    team_id TEXT,
    permissions TEXT NOT NULL DEFAULT '{}',
    max_parallel_requests INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    blocked BOOLEAN,
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    max_budget REAL,
    budget_duration TEXT,
    budget_reset_at TEXT,
    allowed_cache_controls TEXT DEFAULT '[]',
    allowed_routes TEXT DEFAULT '[]',
    model_spend TEXT NOT NULL DEFAULT '{}',
    model_max_budget TEXT NOT NULL DEFAULT '{}',
    budget_id TEXT,
    organization_id TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    created_by TEXT,
    updated_at TEXT DEFAULT CURRENT_TIMESTAMP,
    updated_by TEXT
);

CREATE TABLE IF NOT EXISTS "LiteLLM_DeletedVerificationToken" (
    id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    key_alias TEXT,
    spend REAL NOT NULL DEFAULT 0,
    user_id TEXT,
    team_id TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    deleted_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_by TEXT
);

CREATE TABLE IF NOT EXISTS "LiteLLM_TeamTable" (
    team_id TEXT PRIMARY KEY,
    team_alias TEXT,
    organization_id TEXT,
    admins TEXT DEFAULT '[]',
    members TEXT DEFAULT '[]',
    members_with_roles TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}',
    max_budget REAL,
    spend REAL NOT NULL DEFAULT 0,
    models TEXT DEFAULT '[]',
    max_parallel_requests INTEGER,
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    budget_duration TEXT,
    budget_reset_at TEXT,
    blocked BOOLEAN NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    model_spend TEXT NOT NULL DEFAULT '{}',
    model_max_budget TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS "LiteLLM_TeamMembership" (
    user_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    spend REAL NOT NULL DEFAULT 0,
    budget_id TEXT,
    PRIMARY KEY (user_id, team_id)
);

CREATE TABLE IF NOT EXISTS "LiteLLM_UserTable" (
    user_id TEXT PRIMARY KEY,
    user_alias TEXT,
    team_id TEXT,
    sso_user_id TEXT,
    organization_id TEXT,
    password TEXT,
    teams TEXT DEFAULT '[]',
    user_role TEXT,
    max_budget REAL,
    spend REAL NOT NULL DEFAULT 0,
    user_email TEXT,
    models TEXT DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}',
    max_parallel_requests INTEGER,
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    budget_duration TEXT,
    budget_reset_at TEXT,
    allowed_cache_controls TEXT DEFAULT '[]',
    model_spend TEXT NOT NULL DEFAULT '{}',
    model_max_budget TEXT NOT NULL DEFAULT '{}',
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS "LiteLLM_EndUserTable" (
    user_id TEXT PRIMARY KEY,
    alias TEXT,
    spend REAL NOT NULL DEFAULT 0,
    allowed_model_region TEXT,
    default_model TEXT,
    budget_id TEXT,
    blocked BOOLEAN NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS "LiteLLM_SpendLogs" (
    request_id TEXT PRIMARY KEY,
    call_type TEXT NOT NULL,
    api_key TEXT NOT NULL DEFAULT '',
    spend REAL NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    "startTime" TEXT NOT NULL,
    "endTime" TEXT NOT NULL,
    "completionStartTime" TEXT,
    request_duration_ms INTEGER,
    model TEXT NOT NULL DEFAULT '',
    model_id TEXT DEFAULT '',
    model_group TEXT DEFAULT '',
    custom_llm_provider TEXT DEFAULT '',
    api_base TEXT DEFAULT '',
    "user" TEXT DEFAULT '',
    metadata TEXT DEFAULT '{}',
    cache_hit TEXT DEFAULT '',
    cache_key TEXT DEFAULT '',
    request_tags TEXT DEFAULT '[]',
    team_id TEXT,
    organization_id TEXT,
    end_user TEXT,
    requester_ip_address TEXT,
    messages TEXT DEFAULT '{}',
    response TEXT DEFAULT '{}',
    session_id TEXT,
    status TEXT,
    proxy_server_request TEXT DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS "LiteLLM_SpendLogs_startTime_idx" ON "LiteLLM_SpendLogs" ("startTime");
CREATE INDEX IF NOT EXISTS "LiteLLM_SpendLogs_end_user_idx" ON "LiteLLM_SpendLogs" (end_user);
