-- LiteLLM's tables (Prisma schema names, quoted mixed case), created only when absent so an
-- existing LiteLLM database is used as it is.
CREATE TABLE IF NOT EXISTS "LiteLLM_BudgetTable" (
    budget_id TEXT PRIMARY KEY,
    max_budget DOUBLE PRECISION,
    soft_budget DOUBLE PRECISION,
    max_parallel_requests INTEGER,
    tpm_limit BIGINT,
    rpm_limit BIGINT,
    model_max_budget JSONB,
    budget_duration TEXT,
    budget_reset_at TIMESTAMP(3),
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_by TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_by TEXT NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS "LiteLLM_VerificationToken" (
    token TEXT PRIMARY KEY,
    key_name TEXT,
    key_alias TEXT,
    soft_budget_cooldown BOOLEAN NOT NULL DEFAULT false,
    spend DOUBLE PRECISION NOT NULL DEFAULT 0,
    expires TIMESTAMP(3),
    models TEXT[] DEFAULT ARRAY[]::TEXT[],
    aliases JSONB NOT NULL DEFAULT '{}',
    config JSONB NOT NULL DEFAULT '{}',
    user_id TEXT,
    team_id TEXT,
    permissions JSONB NOT NULL DEFAULT '{}',
    max_parallel_requests INTEGER,
    metadata JSONB NOT NULL DEFAULT '{}',
    blocked BOOLEAN,
    tpm_limit BIGINT,
    rpm_limit BIGINT,
    max_budget DOUBLE PRECISION,
    budget_duration TEXT,
    budget_reset_at TIMESTAMP(3),
    allowed_cache_controls TEXT[] DEFAULT ARRAY[]::TEXT[],
    allowed_routes TEXT[] DEFAULT ARRAY[]::TEXT[],
    model_spend JSONB NOT NULL DEFAULT '{}',
    model_max_budget JSONB NOT NULL DEFAULT '{}',
    budget_id TEXT,
    organization_id TEXT,
    created_at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,
    created_by TEXT,
    updated_at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,
    updated_by TEXT
);

CREATE TABLE IF NOT EXISTS "LiteLLM_DeletedVerificationToken" (
    id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    key_alias TEXT,
    spend DOUBLE PRECISION NOT NULL DEFAULT 0,
    user_id TEXT,
    team_id TEXT,
    metadata JSONB NOT NULL DEFAULT '{}',
    deleted_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_by TEXT
);

CREATE TABLE IF NOT EXISTS "LiteLLM_TeamTable" (
    team_id TEXT PRIMARY KEY,
    team_alias TEXT,
    organization_id TEXT,
    admins TEXT[] DEFAULT ARRAY[]::TEXT[],
    members TEXT[] DEFAULT ARRAY[]::TEXT[],
    members_with_roles JSONB NOT NULL DEFAULT '[]',
    metadata JSONB NOT NULL DEFAULT '{}',
    max_budget DOUBLE PRECISION,
    spend DOUBLE PRECISION NOT NULL DEFAULT 0,
    models TEXT[] DEFAULT ARRAY[]::TEXT[],
    max_parallel_requests INTEGER,
    tpm_limit BIGINT,
    rpm_limit BIGINT,
    budget_duration TEXT,
    budget_reset_at TIMESTAMP(3),
    blocked BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    model_spend JSONB NOT NULL DEFAULT '{}',
    model_max_budget JSONB NOT NULL DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS "LiteLLM_TeamMembership" (
    user_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    spend DOUBLE PRECISION NOT NULL DEFAULT 0,
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
    teams TEXT[] DEFAULT ARRAY[]::TEXT[],
    user_role TEXT,
    max_budget DOUBLE PRECISION,
    spend DOUBLE PRECISION NOT NULL DEFAULT 0,
    user_email TEXT,
    models TEXT[] DEFAULT ARRAY[]::TEXT[],
    metadata JSONB NOT NULL DEFAULT '{}',
    max_parallel_requests INTEGER,
    tpm_limit BIGINT,
    rpm_limit BIGINT,
    budget_duration TEXT,
    budget_reset_at TIMESTAMP(3),
    allowed_cache_controls TEXT[] DEFAULT ARRAY[]::TEXT[],
    model_spend JSONB NOT NULL DEFAULT '{}',
    model_max_budget JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS "LiteLLM_EndUserTable" (
    user_id TEXT PRIMARY KEY,
    alias TEXT,
    spend DOUBLE PRECISION NOT NULL DEFAULT 0,
    allowed_model_region TEXT,
    default_model TEXT,
    budget_id TEXT,
    blocked BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS "LiteLLM_SpendLogs" (
    request_id TEXT PRIMARY KEY,
    call_type TEXT NOT NULL,
    api_key TEXT NOT NULL DEFAULT '',
    spend DOUBLE PRECISION NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    "startTime" TIMESTAMP(3) NOT NULL,
    "endTime" TIMESTAMP(3) NOT NULL,
    "completionStartTime" TIMESTAMP(3),
    request_duration_ms INTEGER,
    model TEXT NOT NULL DEFAULT '',
    model_id TEXT DEFAULT '',
    model_group TEXT DEFAULT '',
    custom_llm_provider TEXT DEFAULT '',
    api_base TEXT DEFAULT '',
    "user" TEXT DEFAULT '',
    metadata JSONB DEFAULT '{}',
    cache_hit TEXT DEFAULT '',
    cache_key TEXT DEFAULT '',
    request_tags JSONB DEFAULT '[]',
    team_id TEXT,
    organization_id TEXT,
    end_user TEXT,
    requester_ip_address TEXT,
    messages JSONB DEFAULT '{}',
    response JSONB DEFAULT '{}',
    session_id TEXT,
    status TEXT,
    proxy_server_request JSONB DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS "LiteLLM_SpendLogs_startTime_idx" ON "LiteLLM_SpendLogs" ("startTime");
CREATE INDEX IF NOT EXISTS "LiteLLM_SpendLogs_end_user_idx" ON "LiteLLM_SpendLogs" (end_user);
