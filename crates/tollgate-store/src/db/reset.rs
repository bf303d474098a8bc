//! The budget reset job's statements: every entity whose `budget_reset_at` has passed gets a
//! new period. Each reset is claimed with a conditional UPDATE (`... WHERE budget_reset_at <
//! now`), so when several instances run the job at once exactly one resets a given row; in the
//! same transaction the running spend is set to what the spend logs hold for the new period,
//! so calls already made in the new period (before the job ran) are not wiped, and calls whose
//! totals are written later add to the reset value as usual. The claim locks the row first,
//! so a concurrent spend write either committed before the recount (and is counted there) or
//! waits and adds after it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Db, Store};
use crate::StoreError;
use crate::duration::{self, Span};
use crate::serde_util::{parse_ts, ts_string};

/// One table's reset statements: rows due, claim (sets `budget_reset_at`, on keys, users and
/// teams also `spend = 0`), and recounts (spend of the new period from the logs).
struct ResetSql {
    due_pg: &'static str,
    due_sqlite: &'static str,
    claim_pg: &'static str,
    claim_sqlite: &'static str,
    recount_pg: &'static [&'static str],
    recount_sqlite: &'static [&'static str],
}

macro_rules! reset_sql {
    ($table:literal, $pk:literal, $claim_set:literal, recount: [$(($rt:literal, $rset:literal, $rfilter:literal)),*]) => {
        ResetSql {
            due_pg: concat!("SELECT \"", $pk, "\", budget_duration, budget_reset_at::text FROM \"", $table,
                "\" WHERE budget_reset_at < $1::timestamp AND budget_duration IS NOT NULL"),
            due_sqlite: concat!("SELECT \"", $pk, "\", budget_duration, budget_reset_at FROM \"", $table,
                "\" WHERE budget_reset_at < $1 AND budget_duration IS NOT NULL"),
            claim_pg: concat!("UPDATE \"", $table, "\" SET ", $claim_set, "budget_reset_at = $2::timestamp WHERE \"",
                $pk, "\" = $1 AND budget_reset_at < $3::timestamp"),
            claim_sqlite: concat!("UPDATE \"", $table, "\" SET ", $claim_set, "budget_reset_at = $2 WHERE \"",
                $pk, "\" = $1 AND budget_reset_at < $3"),
            recount_pg: &[$(concat!("UPDATE \"", $rt, "\" r SET spend = (SELECT COALESCE(SUM(l.spend), 0) FROM \"LiteLLM_SpendLogs\" l WHERE ",
                $rfilter, " AND l.\"startTime\" >= $2::timestamp) WHERE r.\"", $rset, "\" = $1")),*],
            recount_sqlite: &[$(concat!("UPDATE \"", $rt, "\" AS r SET spend = (SELECT COALESCE(SUM(l.spend), 0) FROM \"LiteLLM_SpendLogs\" l WHERE ",
                $rfilter, " AND l.\"startTime\" >= $2) WHERE r.\"", $rset, "\" = $1")),*],
        }
    };
}

const KEYS: ResetSql = reset_sql!("LiteLLM_VerificationToken", "token", "spend = 0, ",
    recount: [("LiteLLM_VerificationToken", "token", "l.api_key = r.token")]);
const USERS: ResetSql = reset_sql!("LiteLLM_UserTable", "user_id", "spend = 0, ",
    recount: [("LiteLLM_UserTable", "user_id", "l.\"user\" = r.user_id")]);
const TEAMS: ResetSql = reset_sql!("LiteLLM_TeamTable", "team_id", "spend = 0, ",
    recount: [("LiteLLM_TeamTable", "team_id", "l.team_id = r.team_id")]);
// End users and team members take their period from the budget they are linked to.
const BUDGETS: ResetSql = reset_sql!("LiteLLM_BudgetTable", "budget_id", "",
recount: [
    ("LiteLLM_EndUserTable", "budget_id", "l.end_user = r.user_id"),
    ("LiteLLM_TeamMembership", "budget_id", "l.\"user\" = r.user_id AND l.team_id = r.team_id")
]);

/// The start of the period `now` is in, given a boundary `old` at or before it: the last
/// boundary at or before `now`. Bounded, so a very short period after a long pause cannot spin.
fn period_start(old: DateTime<Utc>, now: DateTime<Utc>, span: Span, tz: Tz) -> DateTime<Utc> {
    let mut at = old;
    for _ in 0..100_000 {
        match duration::next_reset(at, span, tz) {
            Some(n) if n > at && n <= now => at = n,
            _ => break,
        }
    }
    at
}

impl Store {
    /// Starts a new budget period for every key, user, team and budget (hence its end users
    /// and team members) whose `budget_reset_at` is before `now`: spend restarts from the new
    /// period's logged spend and `budget_reset_at` moves to the next boundary in `tz`. Safe to
    /// run on several instances at once. Returns how many rows this call reset.
    pub async fn reset_budgets(&self, now: DateTime<Utc>, tz: Tz) -> Result<usize, StoreError> {
        let mut done = 0;
        for sql in [&KEYS, &USERS, &TEAMS, &BUDGETS] {
            let due: Vec<(String, Option<String>, Option<String>)> = on_db!(&self.db, pool, pg => {
                sqlx::query_as(if pg { sql.due_pg } else { sql.due_sqlite })
                    .bind(ts_string(&now))
                    .fetch_all(pool)
                    .await?
            });
            for (id, span, at) in due {
                let (Some(span), Some(old)) = (
                    span.as_deref().and_then(duration::parse),
                    at.as_deref().and_then(parse_ts),
                ) else {
                    continue;
                };
                let Some(next) = duration::next_reset(now, span, tz) else {
                    continue;
                };
                let start = period_start(old, now, span, tz);
                if self.reset_one(sql, &id, start, next, now).await? {
                    done += 1;
                }
            }
        }
        Ok(done)
    }

    async fn reset_one(
        &self,
        sql: &ResetSql,
        id: &str,
        start: DateTime<Utc>,
        next: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (start, next, now) = (ts_string(&start), ts_string(&next), ts_string(&now));
        on_db!(&self.db, pool, pg => {
            let mut tx = pool.begin().await?;
            let claimed = sqlx::query(if pg { sql.claim_pg } else { sql.claim_sqlite })
                .bind(id)
                .bind(&next)
                .bind(&now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if claimed == 0 {
                // Another instance reset it first.
                tx.rollback().await?;
                return Ok(false);
            }
            for q in if pg { sql.recount_pg } else { sql.recount_sqlite } {
                sqlx::query(q).bind(id).bind(&start).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_period_starts_at_the_last_boundary_passed() {
        let old = t("2026-03-05T00:00:00Z");
        let now = t("2026-03-07T10:00:00Z");
        assert_eq!(
            period_start(old, now, Span::Days(1), Tz::UTC),
            t("2026-03-07T00:00:00Z")
        );
        // A boundary not passed yet leaves the start where it was.
        let now = t("2026-03-05T00:00:00Z");
        assert_eq!(period_start(old, now, Span::Days(1), Tz::UTC), old);
    }
}
