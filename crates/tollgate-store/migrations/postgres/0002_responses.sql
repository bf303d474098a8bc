-- Responses API conversation state (previous_response_id), shared by every instance on this
-- database: each row is one stored response with its own input items, as JSON text.
CREATE TABLE IF NOT EXISTS "Tollgate_Responses" (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
