//! The two databases behind one [`Store`]. Every statement is a compile-time constant with
//! bound parameters; rows travel as JSON objects (`to_jsonb` on PostgreSQL, `json_object` on
//! SQLite) so one serde model reads both, and writes go through `jsonb_populate_record` /
//! `json_extract`, which also turn JSON arrays into PostgreSQL `TEXT[]` columns as LiteLLM
//! stores them.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::StoreError;
use crate::model::{BudgetRow, EndUserRow, KeyRow, MembershipRow, SpendRow, TeamRow, UserRow};

/// SQL for one table, per database.
#[derive(Debug)]
pub struct TableSql {
    pg_upsert: &'static str,
    sqlite_upsert: &'static str,
    pg_get: &'static str,
    sqlite_get: &'static str,
    pg_all: &'static str,
    sqlite_all: &'static str,
    delete: &'static str,
}

macro_rules! sqlite_col {
    (p, $c:literal) => {
        concat!(", '", $c, "', \"", $c, "\"")
    };
    (j, $c:literal) => {
        concat!(", '", $c, "', json(\"", $c, "\")")
    };
}

macro_rules! sqlite_object {
    ($pk:literal, [$($c:literal $k:ident),*]) => {
        concat!("SELECT json_object('", $pk, "', \"", $pk, "\"", $(sqlite_col!($k, $c),)* ")")
    };
}

/// Builds a [`TableSql`] from the primary key, the columns an update overwrites (`set`) and
/// the columns only an insert writes (`keep`: spend, creation time).
macro_rules! table_sql {
    ($t:literal, $pk:literal, set: [$($s:literal $sk:ident),* $(,)?], keep: [$($k:literal $kk:ident),* $(,)?]) => {
        TableSql {
            pg_upsert: concat!(
                "INSERT INTO \"", $t, "\" (\"", $pk, "\"", $(", \"", $s, "\"",)* $(", \"", $k, "\"",)*
                ") SELECT \"", $pk, "\"", $(", \"", $s, "\"",)* $(", \"", $k, "\"",)*
                " FROM jsonb_populate_record(NULL::\"", $t, "\", $1::jsonb) ON CONFLICT (\"", $pk,
                "\") DO UPDATE SET \"", $pk, "\" = EXCLUDED.\"", $pk, "\"",
                $(", \"", $s, "\" = EXCLUDED.\"", $s, "\"",)*
            ),
            sqlite_upsert: concat!(
                "INSERT INTO \"", $t, "\" (\"", $pk, "\"", $(", \"", $s, "\"",)* $(", \"", $k, "\"",)*
                ") SELECT json_extract($1, '$.", $pk, "')", $(", json_extract($1, '$.", $s, "')",)*
                $(", json_extract($1, '$.", $k, "')",)*
                " WHERE true ON CONFLICT (\"", $pk, "\") DO UPDATE SET \"", $pk, "\" = excluded.\"", $pk, "\"",
                $(", \"", $s, "\" = excluded.\"", $s, "\"",)*
            ),
            pg_get: concat!("SELECT to_jsonb(t)::text FROM \"", $t, "\" t WHERE \"", $pk, "\" = $1"),
            sqlite_get: concat!(
                sqlite_object!($pk, [$($s $sk,)* $($k $kk),*]), " FROM \"", $t, "\" WHERE \"", $pk, "\" = $1"
            ),
            pg_all: concat!("SELECT to_jsonb(t)::text FROM \"", $t, "\" t"),
            sqlite_all: concat!(sqlite_object!($pk, [$($s $sk,)* $($k $kk),*]), " FROM \"", $t, "\""),
            delete: concat!("DELETE FROM \"", $t, "\" WHERE \"", $pk, "\" = $1"),
        }
    };
}

/// A row type stored in one of LiteLLM's tables.
pub trait Entity: Serialize + DeserializeOwned + Send + Sync + Unpin {
    /// The table's statements.
    const SQL: TableSql;
    /// The primary key value.
    fn id(&self) -> &str;
}

impl Entity for KeyRow {
    const SQL: TableSql = table_sql!("LiteLLM_VerificationToken", "token",
        set: ["key_name" p, "key_alias" p, "soft_budget_cooldown" p, "expires" p, "models" j,
              "aliases" j, "config" j, "user_id" p, "team_id" p, "permissions" j,
              "max_parallel_requests" p, "metadata" j, "blocked" p, "tpm_limit" p, "rpm_limit" p,
              "max_budget" p, "budget_duration" p, "budget_reset_at" p,
              "allowed_cache_controls" j, "allowed_routes" j, "model_max_budget" j, "budget_id" p,
              "organization_id" p, "updated_at" p, "updated_by" p],
        keep: ["spend" p, "model_spend" j, "created_at" p, "created_by" p]);
    fn id(&self) -> &str {
        &self.token
    }
}

impl Entity for TeamRow {
    const SQL: TableSql = table_sql!("LiteLLM_TeamTable", "team_id",
        set: ["team_alias" p, "organization_id" p, "admins" j, "members" j, "members_with_roles" j,
              "metadata" j, "max_budget" p, "models" j, "max_parallel_requests" p, "tpm_limit" p,
              "rpm_limit" p, "budget_duration" p, "budget_reset_at" p, "blocked" p,
              "updated_at" p, "model_max_budget" j],
        keep: ["spend" p, "model_spend" j, "created_at" p]);
    fn id(&self) -> &str {
        &self.team_id
    }
}

impl Entity for UserRow {
    const SQL: TableSql = table_sql!("LiteLLM_UserTable", "user_id",
        set: ["user_alias" p, "team_id" p, "organization_id" p, "teams" j, "user_role" p,
              "max_budget" p, "user_email" p, "models" j, "metadata" j, "max_parallel_requests" p,
              "tpm_limit" p, "rpm_limit" p, "budget_duration" p, "budget_reset_at" p,
              "model_max_budget" j, "updated_at" p],
        keep: ["spend" p, "model_spend" j, "created_at" p]);
    fn id(&self) -> &str {
        &self.user_id
    }
}

impl Entity for EndUserRow {
    const SQL: TableSql = table_sql!("LiteLLM_EndUserTable", "user_id",
        set: ["alias" p, "allowed_model_region" p, "default_model" p, "budget_id" p, "blocked" p],
        keep: ["spend" p]);
    fn id(&self) -> &str {
        &self.user_id
    }
}

impl Entity for BudgetRow {
    const SQL: TableSql = table_sql!("LiteLLM_BudgetTable", "budget_id",
        set: ["max_budget" p, "soft_budget" p, "max_parallel_requests" p, "tpm_limit" p,
              "rpm_limit" p, "model_max_budget" j, "budget_duration" p, "budget_reset_at" p,
              "updated_at" p, "updated_by" p],
        keep: ["created_at" p, "created_by" p]);
    fn id(&self) -> &str {
        &self.budget_id
    }
}

macro_rules! spend_cols {
    ($m:ident) => {
        $m![
            "request_id",
            "call_type",
            "api_key",
            "spend",
            "total_tokens",
            "prompt_tokens",
            "completion_tokens",
            "startTime",
            "endTime",
            "completionStartTime",
            "request_duration_ms",
            "model",
            "model_id",
            "model_group",
            "custom_llm_provider",
            "api_base",
            "user",
            "metadata",
            "cache_hit",
            "cache_key",
            "request_tags",
            "team_id",
            "organization_id",
            "end_user",
            "requester_ip_address",
            "session_id",
            "status"
        ]
    };
}

macro_rules! spend_insert_pg {
    ($first:literal $(, $c:literal)*) => {
        concat!(
            "INSERT INTO \"LiteLLM_SpendLogs\" (\"", $first, "\"", $(", \"", $c, "\"",)*
            ") SELECT \"", $first, "\"", $(", \"", $c, "\"",)*
            " FROM jsonb_populate_recordset(NULL::\"LiteLLM_SpendLogs\", $1::jsonb)",
            " ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
        )
    };
}

/// Every column a bound parameter, [`SQLITE_ROWS_PER_INSERT`] rows a statement: SQLite re-uses
/// the prepared statement for each chunk of a batch. Measured under load: unpacking a JSON
/// array with `json_each`/`json_extract` per column was most of the spend writer's CPU, and a
/// statement per row spent it instead on hand-offs to the SQLite worker thread.
macro_rules! spend_insert_sqlite {
    ($first:literal $(, $c:literal)*) => {
        concat!(
            "INSERT INTO \"LiteLLM_SpendLogs\" (\"", $first, "\"", $(", \"", $c, "\"",)*
            ") VALUES "
        )
    };
}

/// `(?, ?, ...)`: one row's parameters.
macro_rules! spend_params_sqlite {
    ($first:literal $(, $c:literal)*) => {
        concat!("(?", $(spend_params_sqlite!(@one $c),)* ")")
    };
    (@one $c:literal) => {
        ", ?"
    };
}

/// Rows per multi-row SQLite insert (27 parameters each; SQLite allows 32766).
const SQLITE_ROWS_PER_INSERT: usize = 16;

macro_rules! sixteen_rows {
    () => {
        concat!(
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite),
            ", ",
            spend_cols!(spend_params_sqlite)
        )
    };
}

macro_rules! spend_select_sqlite {
    ($first:literal $(, $c:literal)*) => {
        concat!(
            "SELECT json_object('", $first, "', \"", $first, "\"",
            $(", '", $c, "', CASE WHEN '", $c, "' IN ('metadata', 'request_tags') THEN json(\"", $c, "\") ELSE \"", $c, "\" END",)*
            ") FROM \"LiteLLM_SpendLogs\""
        )
    };
}

const SPEND_INSERT_PG: &str = spend_cols!(spend_insert_pg);
const SPEND_INSERT_SQLITE_ONE: &str = concat!(
    spend_cols!(spend_insert_sqlite),
    spend_cols!(spend_params_sqlite),
    " ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
);
const SPEND_INSERT_SQLITE_MANY: &str = concat!(
    spend_cols!(spend_insert_sqlite),
    sixteen_rows!(),
    " ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
);
const SPEND_SELECT_PG: &str = "SELECT to_jsonb(t)::text FROM \"LiteLLM_SpendLogs\" t \
    WHERE ($1::text IS NULL OR api_key = $1) AND ($2::text IS NULL OR \"user\" = $2) \
    AND ($3::text IS NULL OR team_id = $3) AND ($4::text IS NULL OR model_group = $4 OR model = $4) \
    AND ($5::text IS NULL OR end_user = $5) AND ($6::text IS NULL OR request_id = $6) \
    AND ($7::text IS NULL OR \"startTime\" >= $7::timestamp) AND ($8::text IS NULL OR \"startTime\" < $8::timestamp) \
    ORDER BY \"startTime\" DESC LIMIT $9";
const SPEND_SELECT_SQLITE: &str = concat!(
    spend_cols!(spend_select_sqlite),
    " WHERE ($1 IS NULL OR api_key = $1) AND ($2 IS NULL OR \"user\" = $2) \
    AND ($3 IS NULL OR team_id = $3) AND ($4 IS NULL OR model_group = $4 OR model = $4) \
    AND ($5 IS NULL OR end_user = $5) AND ($6 IS NULL OR request_id = $6) \
    AND ($7 IS NULL OR \"startTime\" >= $7) AND ($8 IS NULL OR \"startTime\" < $8) \
    ORDER BY \"startTime\" DESC LIMIT $9"
);
const SPEND_TOTAL_PG: &str = "SELECT COALESCE(SUM(spend), 0)::float8 FROM \"LiteLLM_SpendLogs\" \
    WHERE ($1::text IS NULL OR \"startTime\" >= $1::timestamp) AND ($2::text IS NULL OR \"startTime\" < $2::timestamp)";
const SPEND_TOTAL_SQLITE: &str = "SELECT CAST(COALESCE(SUM(spend), 0) AS REAL) FROM \"LiteLLM_SpendLogs\" \
    WHERE ($1 IS NULL OR \"startTime\" >= $1) AND ($2 IS NULL OR \"startTime\" < $2)";
const SPEND_COUNT: &str = "SELECT COUNT(*) FROM \"LiteLLM_SpendLogs\"";

const ADD_KEY_SPEND: &str =
    "UPDATE \"LiteLLM_VerificationToken\" SET spend = spend + $1 WHERE token = $2";
const SET_KEY_SPEND: &str = "UPDATE \"LiteLLM_VerificationToken\" SET spend = $1 WHERE token = $2";
const ADD_USER_SPEND: &str =
    "UPDATE \"LiteLLM_UserTable\" SET spend = spend + $1 WHERE user_id = $2";
const ADD_TEAM_SPEND: &str =
    "UPDATE \"LiteLLM_TeamTable\" SET spend = spend + $1 WHERE team_id = $2";
const ADD_END_USER_SPEND: &str = "INSERT INTO \"LiteLLM_EndUserTable\" (user_id, spend, blocked) VALUES ($2, $1, false) \
    ON CONFLICT (user_id) DO UPDATE SET spend = \"LiteLLM_EndUserTable\".spend + excluded.spend";
const ADD_MEMBER_SPEND: &str =
    "UPDATE \"LiteLLM_TeamMembership\" SET spend = spend + $1 WHERE user_id = $2 AND team_id = $3";

// `model_spend[model] += $1` on a key or team row (LiteLLM's per-model running totals). The
// model is a bound parameter: a JSON path on SQLite, a `text[]` path on PostgreSQL.
const ADD_KEY_MODEL_SPEND_PG: &str = "UPDATE \"LiteLLM_VerificationToken\" SET model_spend = \
    jsonb_set(COALESCE(model_spend, '{}'::jsonb), ARRAY[$2::text], \
    to_jsonb(COALESCE((model_spend->>$2)::float8, 0) + $1)) WHERE token = $3";
const ADD_KEY_MODEL_SPEND_SQLITE: &str = "UPDATE \"LiteLLM_VerificationToken\" SET model_spend = \
    json_set(COALESCE(NULLIF(model_spend, ''), '{}'), '$.\"' || $2 || '\"', \
    COALESCE(json_extract(model_spend, '$.\"' || $2 || '\"'), 0) + $1) WHERE token = $3";
const ADD_TEAM_MODEL_SPEND_PG: &str = "UPDATE \"LiteLLM_TeamTable\" SET model_spend = \
    jsonb_set(COALESCE(model_spend, '{}'::jsonb), ARRAY[$2::text], \
    to_jsonb(COALESCE((model_spend->>$2)::float8, 0) + $1)) WHERE team_id = $3";
const ADD_TEAM_MODEL_SPEND_SQLITE: &str = "UPDATE \"LiteLLM_TeamTable\" SET model_spend = \
    json_set(COALESCE(NULLIF(model_spend, ''), '{}'), '$.\"' || $2 || '\"', \
    COALESCE(json_extract(model_spend, '$.\"' || $2 || '\"'), 0) + $1) WHERE team_id = $3";
// A window reset sets `model_spend[model]` to the spend logged since the window began rather
// than to 0, so it is right whichever of the reset and the new window's first rows is
// written first.
const RESET_KEY_MODEL_PG: &str = "UPDATE \"LiteLLM_VerificationToken\" SET model_spend = \
    jsonb_set(COALESCE(model_spend, '{}'::jsonb), ARRAY[$2::text], to_jsonb(( \
    SELECT COALESCE(SUM(spend), 0)::float8 FROM \"LiteLLM_SpendLogs\" \
    WHERE api_key = $1 AND model_group = $2::text AND \"startTime\" >= $3::timestamp))) WHERE token = $1";
const RESET_KEY_MODEL_SQLITE: &str = "UPDATE \"LiteLLM_VerificationToken\" SET model_spend = \
    json_set(COALESCE(NULLIF(model_spend, ''), '{}'), '$.\"' || $2 || '\"', ( \
    SELECT CAST(COALESCE(SUM(spend), 0) AS REAL) FROM \"LiteLLM_SpendLogs\" \
    WHERE api_key = $1 AND model_group = $2 AND \"startTime\" >= $3)) WHERE token = $1";

const MEMBER_UPSERT: &str = "INSERT INTO \"LiteLLM_TeamMembership\" (user_id, team_id, spend, budget_id) \
    VALUES ($1, $2, 0, $3) ON CONFLICT (user_id, team_id) DO UPDATE SET budget_id = excluded.budget_id";
const MEMBER_DELETE: &str =
    "DELETE FROM \"LiteLLM_TeamMembership\" WHERE user_id = $1 AND team_id = $2";
const MEMBER_ALL_PG: &str = "SELECT to_jsonb(t)::text FROM \"LiteLLM_TeamMembership\" t";
const MEMBER_ALL_SQLITE: &str = "SELECT json_object('user_id', user_id, 'team_id', team_id, 'spend', spend, 'budget_id', budget_id) FROM \"LiteLLM_TeamMembership\"";

const DELETED_KEY_INSERT: &str = "INSERT INTO \"LiteLLM_DeletedVerificationToken\" (id, token, key_alias, spend, user_id, team_id, deleted_by) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

// Spend-log aggregates for the `/global/spend/*` and `/spend/tags` reports. Every statement
// returns (id, alias, name, day, count, spend) and takes the same bound filters: $1 start
// (inclusive), $2 end (exclusive), $3 hashed key, $4 row limit.
macro_rules! agg_where_pg {
    () => {
        "($1::text IS NULL OR l.\"startTime\" >= $1::timestamp) AND ($2::text IS NULL OR l.\"startTime\" < $2::timestamp) \
         AND ($3::text IS NULL OR l.api_key = $3)"
    };
}
macro_rules! agg_where_sqlite {
    () => {
        "($1 IS NULL OR l.\"startTime\" >= $1) AND ($2 IS NULL OR l.\"startTime\" < $2) AND ($3 IS NULL OR l.api_key = $3)"
    };
}
const AGG_KEYS_PG: &str = concat!(
    "SELECT l.api_key, MAX(v.key_alias), MAX(v.key_name), NULL::text, COUNT(*), COALESCE(SUM(l.spend), 0)::float8 \
     FROM \"LiteLLM_SpendLogs\" l LEFT JOIN \"LiteLLM_VerificationToken\" v ON v.token = l.api_key \
     WHERE l.api_key <> '' AND ",
    agg_where_pg!(),
    " GROUP BY l.api_key ORDER BY 6 DESC, 1 LIMIT $4"
);
const AGG_KEYS_SQLITE: &str = concat!(
    "SELECT l.api_key, MAX(v.key_alias), MAX(v.key_name), NULL, COUNT(*), CAST(COALESCE(SUM(l.spend), 0) AS REAL) \
     FROM \"LiteLLM_SpendLogs\" l LEFT JOIN \"LiteLLM_VerificationToken\" v ON v.token = l.api_key \
     WHERE l.api_key <> '' AND ",
    agg_where_sqlite!(),
    " GROUP BY l.api_key ORDER BY 6 DESC, 1 LIMIT $4"
);
const AGG_MODELS_PG: &str = concat!(
    "SELECT l.model, NULL::text, NULL::text, NULL::text, COUNT(*), COALESCE(SUM(l.spend), 0)::float8 \
     FROM \"LiteLLM_SpendLogs\" l WHERE l.model <> '' AND ",
    agg_where_pg!(),
    " GROUP BY l.model ORDER BY 6 DESC, 1 LIMIT $4"
);
const AGG_MODELS_SQLITE: &str = concat!(
    "SELECT l.model, NULL, NULL, NULL, COUNT(*), CAST(COALESCE(SUM(l.spend), 0) AS REAL) \
     FROM \"LiteLLM_SpendLogs\" l WHERE l.model <> '' AND ",
    agg_where_sqlite!(),
    " GROUP BY l.model ORDER BY 6 DESC, 1 LIMIT $4"
);
const AGG_END_USERS_PG: &str = concat!(
    "SELECT l.end_user, NULL::text, NULL::text, NULL::text, COUNT(*), COALESCE(SUM(l.spend), 0)::float8 \
     FROM \"LiteLLM_SpendLogs\" l WHERE l.end_user IS NOT NULL AND l.end_user <> '' AND ",
    agg_where_pg!(),
    " GROUP BY l.end_user ORDER BY 6 DESC, 1 LIMIT $4"
);
const AGG_END_USERS_SQLITE: &str = concat!(
    "SELECT l.end_user, NULL, NULL, NULL, COUNT(*), CAST(COALESCE(SUM(l.spend), 0) AS REAL) \
     FROM \"LiteLLM_SpendLogs\" l WHERE l.end_user IS NOT NULL AND l.end_user <> '' AND ",
    agg_where_sqlite!(),
    " GROUP BY l.end_user ORDER BY 6 DESC, 1 LIMIT $4"
);
const AGG_TEAM_DAYS_PG: &str = concat!(
    "SELECT l.team_id, MAX(t.team_alias), NULL::text, to_char(l.\"startTime\", 'YYYY-MM-DD'), COUNT(*), \
     COALESCE(SUM(l.spend), 0)::float8 FROM \"LiteLLM_SpendLogs\" l \
     LEFT JOIN \"LiteLLM_TeamTable\" t ON t.team_id = l.team_id \
     WHERE l.team_id IS NOT NULL AND l.team_id <> '' AND ",
    agg_where_pg!(),
    " GROUP BY l.team_id, to_char(l.\"startTime\", 'YYYY-MM-DD') ORDER BY 4, 6 DESC, 1 LIMIT $4"
);
const AGG_TEAM_DAYS_SQLITE: &str = concat!(
    "SELECT l.team_id, MAX(t.team_alias), NULL, substr(l.\"startTime\", 1, 10), COUNT(*), \
     CAST(COALESCE(SUM(l.spend), 0) AS REAL) FROM \"LiteLLM_SpendLogs\" l \
     LEFT JOIN \"LiteLLM_TeamTable\" t ON t.team_id = l.team_id \
     WHERE l.team_id IS NOT NULL AND l.team_id <> '' AND ",
    agg_where_sqlite!(),
    " GROUP BY l.team_id, substr(l.\"startTime\", 1, 10) ORDER BY 4, 6 DESC, 1 LIMIT $4"
);
const AGG_TAGS_PG: &str = concat!(
    "SELECT tag, NULL::text, NULL::text, NULL::text, COUNT(*), COALESCE(SUM(l.spend), 0)::float8 \
     FROM \"LiteLLM_SpendLogs\" l, jsonb_array_elements_text(CASE WHEN jsonb_typeof(l.request_tags) = 'array' \
     THEN l.request_tags ELSE '[]'::jsonb END) AS tg(tag) WHERE ",
    agg_where_pg!(),
    " GROUP BY tag ORDER BY 6 DESC, 1 LIMIT $4"
);
const AGG_TAGS_SQLITE: &str = concat!(
    "SELECT j.value, NULL, NULL, NULL, COUNT(*), CAST(COALESCE(SUM(l.spend), 0) AS REAL) \
     FROM \"LiteLLM_SpendLogs\" l, json_each(CASE WHEN json_valid(l.request_tags) THEN \
     (CASE WHEN json_type(l.request_tags) = 'array' THEN l.request_tags ELSE '[]' END) ELSE '[]' END) AS j \
     WHERE j.type = 'text' AND ",
    agg_where_sqlite!(),
    " GROUP BY j.value ORDER BY 6 DESC, 1 LIMIT $4"
);

/// What a spend aggregate groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendBy {
    /// Hashed key (with its alias and name).
    Key,
    /// The `model` column.
    Model,
    /// The end user (the request's `user`).
    EndUser,
    /// Team (with its alias) and day.
    TeamDay,
    /// Each request tag.
    Tag,
}

/// One group of a spend aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendTotal {
    /// The group: key hash, model, end user, team id or tag.
    pub id: Option<String>,
    /// Key alias or team alias.
    pub alias: Option<String>,
    /// Key name (`sk-...abcd`).
    pub name: Option<String>,
    /// `YYYY-MM-DD` (by-day groupings).
    pub day: Option<String>,
    /// Number of spend-log rows.
    pub count: i64,
    /// Their summed spend.
    pub spend: f64,
}

type TotalRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    f64,
);

/// Which entity a spend total applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    Key(String),
    User(String),
    Team(String),
    EndUser(String),
    /// (user, team).
    Member(String, String),
}

/// Filters of the spend-log queries (all optional, combined with AND).
#[derive(Debug, Clone, Default)]
pub struct SpendFilter {
    pub api_key: Option<String>,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub model: Option<String>,
    pub end_user: Option<String>,
    pub request_id: Option<String>,
    /// Inclusive start, as stored (`YYYY-MM-DDTHH:MM:SS.mmm`).
    pub start: Option<String>,
    /// Exclusive end.
    pub end: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool this store has and `$pg` telling which.
macro_rules! on_db {
    ($db:expr, $pool:ident, $pg:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => {
                let $pg = false;
                $body
            }
            Db::Postgres($pool) => {
                let $pg = true;
                $body
            }
        }
    };
}

const RESPONSE_UPSERT: &str = "INSERT INTO \"Tollgate_Responses\" (id, body, created_at) \
    VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET body = excluded.body";
const RESPONSE_GET: &str = "SELECT body FROM \"Tollgate_Responses\" WHERE id = $1";
const RESPONSE_DELETE: &str = "DELETE FROM \"Tollgate_Responses\" WHERE id = $1";

/// The database: LiteLLM's tables in SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl Store {
    /// Connects and runs the migrations. `url` is `postgres://...`/`postgresql://...` or
    /// `sqlite://path` (created when missing). Several processes may start at once against one
    /// fresh PostgreSQL database: the migrator holds an advisory lock while it runs.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            PG_MIGRATIONS.run(&pool).await?;
            Db::Postgres(pool)
        } else {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // synchronous stays FULL: NORMAL measured 4 % less CPU per request, not worth
                // commits an OS crash could undo.
                .busy_timeout(Duration::from_secs(30));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            Db::Sqlite(pool)
        };
        Ok(Self { db })
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// Inserts or replaces a row; spend and creation columns of an existing row are kept.
    pub async fn upsert<E: Entity>(&self, row: &E) -> Result<(), StoreError> {
        let json = serde_json::to_string(row)?;
        on_db!(&self.db, pool, pg => {
            let sql = if pg { E::SQL.pg_upsert } else { E::SQL.sqlite_upsert };
            sqlx::query(sql).bind(json).execute(pool).await?;
        });
        Ok(())
    }

    /// One row by primary key.
    pub async fn get<E: Entity>(&self, id: &str) -> Result<Option<E>, StoreError> {
        let text: Option<String> = on_db!(&self.db, pool, pg => {
            let sql = if pg { E::SQL.pg_get } else { E::SQL.sqlite_get };
            sqlx::query_scalar(sql).bind(id).fetch_optional(pool).await?
        });
        text.map(|t| serde_json::from_str(&t).map_err(StoreError::from))
            .transpose()
    }

    /// Every row of the table.
    pub async fn all<E: Entity>(&self) -> Result<Vec<E>, StoreError> {
        let texts: Vec<String> = on_db!(&self.db, pool, pg => {
            let sql = if pg { E::SQL.pg_all } else { E::SQL.sqlite_all };
            sqlx::query_scalar(sql).fetch_all(pool).await?
        });
        texts
            .iter()
            .map(|t| serde_json::from_str(t).map_err(StoreError::from))
            .collect()
    }

    /// Deletes a row; whether it existed.
    pub async fn delete<E: Entity>(&self, id: &str) -> Result<bool, StoreError> {
        let n = on_db!(&self.db, pool, _pg => {
            sqlx::query(E::SQL.delete).bind(id).execute(pool).await?.rows_affected()
        });
        Ok(n > 0)
    }

    /// Keeps a copy of a deleted key in `LiteLLM_DeletedVerificationToken`.
    pub async fn record_deleted_key(
        &self,
        key: &KeyRow,
        deleted_by: Option<&str>,
    ) -> Result<(), StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        on_db!(&self.db, pool, _pg => {
            sqlx::query(DELETED_KEY_INSERT)
                .bind(id)
                .bind(&key.token)
                .bind(&key.key_alias)
                .bind(key.spend)
                .bind(&key.user_id)
                .bind(&key.team_id)
                .bind(deleted_by)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Adds or updates a team membership.
    pub async fn upsert_member(
        &self,
        user_id: &str,
        team_id: &str,
        budget_id: Option<&str>,
    ) -> Result<(), StoreError> {
        on_db!(&self.db, pool, _pg => {
            sqlx::query(MEMBER_UPSERT).bind(user_id).bind(team_id).bind(budget_id).execute(pool).await?;
        });
        Ok(())
    }

    /// Removes a team membership.
    pub async fn delete_member(&self, user_id: &str, team_id: &str) -> Result<(), StoreError> {
        on_db!(&self.db, pool, _pg => {
            sqlx::query(MEMBER_DELETE).bind(user_id).bind(team_id).execute(pool).await?;
        });
        Ok(())
    }

    /// Every team membership.
    pub async fn members(&self) -> Result<Vec<MembershipRow>, StoreError> {
        let texts: Vec<String> = on_db!(&self.db, pool, pg => {
            let sql = if pg { MEMBER_ALL_PG } else { MEMBER_ALL_SQLITE };
            sqlx::query_scalar(sql).fetch_all(pool).await?
        });
        texts
            .iter()
            .map(|t| serde_json::from_str(t).map_err(StoreError::from))
            .collect()
    }

    /// Sets a key's running spend (`/key/{key}/reset_spend`); whether the key exists.
    pub async fn set_key_spend(&self, token: &str, spend: f64) -> Result<bool, StoreError> {
        let n = on_db!(&self.db, pool, _pg => {
            sqlx::query(SET_KEY_SPEND).bind(spend).bind(token).execute(pool).await?.rows_affected()
        });
        Ok(n > 0)
    }

    /// Starts a new `model_max_budget` window of a key's `model_spend[model]` at `since`: the
    /// value becomes the spend logged for the key and model from then on.
    pub async fn reset_model_spend(
        &self,
        token: &str,
        model: &str,
        since: &chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        if !plain_model_name(model) {
            return Ok(());
        }
        let since = crate::serde_util::ts_string(since);
        on_db!(&self.db, pool, pg => {
            let sql = if pg { RESET_KEY_MODEL_PG } else { RESET_KEY_MODEL_SQLITE };
            sqlx::query(sql).bind(token).bind(model).bind(&since).execute(pool).await?;
        });
        Ok(())
    }

    /// Writes spend-log rows and adds their cost to the running totals, in one transaction.
    /// A row whose `request_id` is already stored is skipped together with its totals, so
    /// writing the same batch again (after a failure whose outcome was unknown) counts each
    /// request exactly once. Returns how many rows were new.
    pub async fn write_spend(&self, rows: &[SpendRow]) -> Result<usize, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        match &self.db {
            Db::Postgres(pool) => {
                let json = serde_json::to_string(rows)?;
                let mut tx = pool.begin().await?;
                let inserted: Vec<String> = sqlx::query_scalar(SPEND_INSERT_PG)
                    .bind(json)
                    .fetch_all(&mut *tx)
                    .await?;
                let new: HashSet<&str> = inserted.iter().map(String::as_str).collect();
                let fresh: Vec<&SpendRow> = rows
                    .iter()
                    .filter(|r| new.contains(r.request_id.as_str()))
                    .collect();
                add_totals(
                    &mut tx,
                    &fresh,
                    (ADD_KEY_MODEL_SPEND_PG, ADD_TEAM_MODEL_SPEND_PG),
                )
                .await?;
                tx.commit().await?;
                Ok(fresh.len())
            }
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                let mut inserted: Vec<String> = Vec::with_capacity(rows.len());
                let mut chunks = rows.chunks_exact(SQLITE_ROWS_PER_INSERT);
                for chunk in &mut chunks {
                    let mut q = sqlx::query(SPEND_INSERT_SQLITE_MANY);
                    for r in chunk {
                        q = bind_spend_row(q, r)?;
                    }
                    for row in q.fetch_all(&mut *tx).await? {
                        inserted.push(row.try_get(0)?);
                    }
                }
                for r in chunks.remainder() {
                    let q = bind_spend_row(sqlx::query(SPEND_INSERT_SQLITE_ONE), r)?;
                    if let Some(row) = q.fetch_optional(&mut *tx).await? {
                        inserted.push(row.try_get(0)?);
                    }
                }
                let new: HashSet<&str> = inserted.iter().map(String::as_str).collect();
                let fresh: Vec<&SpendRow> = rows
                    .iter()
                    .filter(|r| new.contains(r.request_id.as_str()))
                    .collect();
                add_totals(
                    &mut tx,
                    &fresh,
                    (ADD_KEY_MODEL_SPEND_SQLITE, ADD_TEAM_MODEL_SPEND_SQLITE),
                )
                .await?;
                tx.commit().await?;
                Ok(fresh.len())
            }
        }
    }

    /// Spend-log rows, newest first.
    pub async fn spend_logs(&self, f: &SpendFilter) -> Result<Vec<SpendRow>, StoreError> {
        let texts: Vec<String> = on_db!(&self.db, pool, pg => {
            let sql = if pg { SPEND_SELECT_PG } else { SPEND_SELECT_SQLITE };
            sqlx::query_scalar(sql)
                .bind(&f.api_key)
                .bind(&f.user_id)
                .bind(&f.team_id)
                .bind(&f.model)
                .bind(&f.end_user)
                .bind(&f.request_id)
                .bind(&f.start)
                .bind(&f.end)
                .bind(if f.limit > 0 { f.limit } else { 1000 })
                .fetch_all(pool)
                .await?
        });
        texts
            .iter()
            .map(|t| serde_json::from_str(t).map_err(StoreError::from))
            .collect()
    }

    /// Total spend of the logs between two times (either open).
    pub async fn total_spend(
        &self,
        start: Option<&str>,
        end: Option<&str>,
    ) -> Result<f64, StoreError> {
        Ok(on_db!(&self.db, pool, pg => {
            let sql = if pg { SPEND_TOTAL_PG } else { SPEND_TOTAL_SQLITE };
            sqlx::query_scalar::<_, f64>(sql).bind(start).bind(end).fetch_one(pool).await?
        }))
    }

    /// Spend-log rows summed per group (largest first), under the filter's `start`, `end`,
    /// `api_key` and `limit` (the other filters do not apply).
    pub async fn spend_totals(
        &self,
        by: SpendBy,
        f: &SpendFilter,
    ) -> Result<Vec<SpendTotal>, StoreError> {
        let limit = if f.limit > 0 { f.limit } else { 1000 };
        let rows: Vec<TotalRow> = on_db!(&self.db, pool, pg => {
            let sql = match (by, pg) {
                (SpendBy::Key, true) => AGG_KEYS_PG,
                (SpendBy::Key, false) => AGG_KEYS_SQLITE,
                (SpendBy::Model, true) => AGG_MODELS_PG,
                (SpendBy::Model, false) => AGG_MODELS_SQLITE,
                (SpendBy::EndUser, true) => AGG_END_USERS_PG,
                (SpendBy::EndUser, false) => AGG_END_USERS_SQLITE,
                (SpendBy::TeamDay, true) => AGG_TEAM_DAYS_PG,
                (SpendBy::TeamDay, false) => AGG_TEAM_DAYS_SQLITE,
                (SpendBy::Tag, true) => AGG_TAGS_PG,
                (SpendBy::Tag, false) => AGG_TAGS_SQLITE,
            };
            sqlx::query_as::<_, TotalRow>(sql)
                .bind(&f.start)
                .bind(&f.end)
                .bind(&f.api_key)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, alias, name, day, count, spend)| SpendTotal {
                id,
                alias,
                name,
                day,
                count,
                spend,
            })
            .collect())
    }

    /// Number of spend-log rows.
    pub async fn spend_log_count(&self) -> Result<i64, StoreError> {
        Ok(on_db!(&self.db, pool, _pg => {
            sqlx::query_scalar::<_, i64>(SPEND_COUNT).fetch_one(pool).await?
        }))
    }

    /// Saves a stored Responses API response (its JSON text) under its id, replacing an
    /// earlier one; `created_at` is in Unix seconds.
    pub async fn put_response(
        &self,
        id: &str,
        body: &str,
        created_at: i64,
    ) -> Result<(), StoreError> {
        on_db!(&self.db, pool, _pg => {
            sqlx::query(RESPONSE_UPSERT).bind(id).bind(body).bind(created_at).execute(pool).await?;
        });
        Ok(())
    }

    /// A stored Responses API response's JSON text.
    pub async fn get_response(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(on_db!(&self.db, pool, _pg => {
            sqlx::query_scalar::<_, String>(RESPONSE_GET).bind(id).fetch_optional(pool).await?
        }))
    }

    /// Deletes a stored Responses API response; whether it existed.
    pub async fn delete_response(&self, id: &str) -> Result<bool, StoreError> {
        let n = on_db!(&self.db, pool, _pg => {
            sqlx::query(RESPONSE_DELETE).bind(id).execute(pool).await?.rows_affected()
        });
        Ok(n > 0)
    }

    /// Closes the pool.
    pub async fn close(&self) {
        on_db!(&self.db, pool, _pg => pool.close().await);
    }
}

/// Whether a model name can be a `model_spend` key: SQLite's JSON paths cannot quote `"` or
/// `\`, and such names are not real model names, so their per-model totals are not kept.
fn plain_model_name(model: &str) -> bool {
    !model.is_empty() && !model.contains(['"', '\\'])
}

/// The per-model totals a batch adds to keys and teams (`model_spend`, by model group), from
/// the rows that were new: (key hash, team, model, amount).
fn model_totals<'a>(fresh: &[&'a SpendRow]) -> Vec<(&'a str, Option<&'a str>, &'a str, f64)> {
    // Ordered, so concurrent writers never lock the same rows in opposite orders.
    let mut sums: BTreeMap<(&str, Option<&str>, &str), f64> = BTreeMap::new();
    for r in fresh {
        let Some(model) = r.model_group.as_deref().filter(|m| plain_model_name(m)) else {
            continue;
        };
        if r.spend == 0.0 {
            continue;
        }
        let team = r.team_id.as_deref().filter(|t| !t.is_empty());
        if r.api_key.is_empty() && team.is_none() {
            continue;
        }
        *sums.entry((r.api_key.as_str(), team, model)).or_default() += r.spend;
    }
    sums.into_iter()
        .map(|((k, t, m), v)| (k, t, m, v))
        .collect()
}

/// Adds the new rows' cost to the running totals and to the keys' and teams' `model_spend`
/// (`model_sql`: that update for keys, then for teams, in this database's dialect).
async fn add_totals<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    fresh: &[&SpendRow],
    model_sql: (&'static str, &'static str),
) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    f64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for (owner, amount) in &totals(fresh) {
        add_spend(owner, *amount).execute(&mut **tx).await?;
    }
    for (key, team, model, amount) in model_totals(fresh) {
        let (key_sql, team_sql) = model_sql;
        if !key.is_empty() {
            let q = sqlx::query(key_sql).bind(amount).bind(model).bind(key);
            q.execute(&mut **tx).await?;
        }
        if let Some(team) = team {
            let q = sqlx::query(team_sql).bind(amount).bind(model).bind(team);
            q.execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// Binds a spend row's columns in `spend_cols!` order.
fn bind_spend_row<'q, DB>(
    q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    r: &'q SpendRow,
) -> Result<sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>, StoreError>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    Ok(q.bind(r.request_id.as_str())
        .bind(r.call_type.as_str())
        .bind(r.api_key.as_str())
        .bind(r.spend)
        .bind(r.total_tokens)
        .bind(r.prompt_tokens)
        .bind(r.completion_tokens)
        .bind(crate::serde_util::ts_string(&r.start_time))
        .bind(crate::serde_util::ts_string(&r.end_time))
        .bind(
            r.completion_start_time
                .as_ref()
                .map(crate::serde_util::ts_string),
        )
        .bind(r.request_duration_ms)
        .bind(r.model.as_str())
        .bind(r.model_id.as_deref())
        .bind(r.model_group.as_deref())
        .bind(r.custom_llm_provider.as_deref())
        .bind(r.api_base.as_deref())
        .bind(r.user.as_deref())
        .bind(serde_json::to_string(&r.metadata)?)
        .bind(r.cache_hit.as_deref())
        .bind(r.cache_key.as_deref())
        .bind(serde_json::to_string(&r.request_tags)?)
        .bind(r.team_id.as_deref())
        .bind(r.organization_id.as_deref())
        .bind(r.end_user.as_deref())
        .bind(r.requester_ip_address.as_deref())
        .bind(r.session_id.as_deref())
        .bind(r.status.as_deref()))
}

/// The statement adding `amount` to one owner's running spend.
fn add_spend<'q, DB>(
    owner: &'q Owner,
    amount: f64,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    match owner {
        Owner::Key(id) => sqlx::query(ADD_KEY_SPEND).bind(amount).bind(id.as_str()),
        Owner::User(id) => sqlx::query(ADD_USER_SPEND).bind(amount).bind(id.as_str()),
        Owner::Team(id) => sqlx::query(ADD_TEAM_SPEND).bind(amount).bind(id.as_str()),
        Owner::EndUser(id) => sqlx::query(ADD_END_USER_SPEND)
            .bind(amount)
            .bind(id.as_str()),
        Owner::Member(u, t) => sqlx::query(ADD_MEMBER_SPEND)
            .bind(amount)
            .bind(u.as_str())
            .bind(t.as_str()),
    }
}

/// The running totals the new rows of a batch add, in a stable order (so concurrent writers
/// never lock the same rows in opposite orders).
fn totals(fresh: &[&SpendRow]) -> BTreeMap<Owner, f64> {
    let mut sums = BTreeMap::new();
    for r in fresh.iter().filter(|r| r.spend != 0.0) {
        let mut add = |o: Owner| *sums.entry(o).or_default() += r.spend;
        if !r.api_key.is_empty() {
            add(Owner::Key(r.api_key.clone()));
        }
        let user = r.user.as_ref().filter(|u| !u.is_empty());
        let team = r.team_id.as_ref().filter(|t| !t.is_empty());
        if let Some(u) = user {
            add(Owner::User(u.clone()));
            if let Some(t) = team {
                add(Owner::Member(u.clone(), t.clone()));
            }
        }
        if let Some(t) = team {
            add(Owner::Team(t.clone()));
        }
        if let Some(e) = r.end_user.as_ref().filter(|e| !e.is_empty()) {
            add(Owner::EndUser(e.clone()));
        }
    }
    sums
}

mod reset;
