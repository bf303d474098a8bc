//! `/v1/completions`, `/v1/images/generations`, `/v1/audio/transcriptions`,
//! `/v1/audio/speech`, `/v1/moderations` and `/v1/rerank` (with their bare and alias forms):
//! each routed by model through the engine, its usage handed to [`super::usage::record`].

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Map, Value};
use tollgate_core::GatewayError;
use tollgate_providers::operations::{FormPart, MultipartForm, Operation, OperationBody};
use tollgate_router::OperationBodyOut;

use super::usage::{UsageRecord, deferred, record};
use super::{
    Attempt, add_headers, admit, call_context, call_id, end_user, failed, routed_error,
    settled_units, spend_headers, tags,
};
use crate::accounting::{CallSpec, Units};
use crate::headers;
use crate::state::AppState;

/// `/v1/completions`, `/completions`.
pub async fn completions(State(state): State<Arc<AppState>>, request: Request) -> Response {
    handle(state, Operation::Completions, None, request).await
}

/// `/engines/{model}/completions`, `/openai/deployments/{model}/completions`.
pub async fn completions_for_model(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    request: Request,
) -> Response {
    handle(state, Operation::Completions, Some(model), request).await
}

/// `/openai/deployments/{model}/images/generations` (Azure OpenAI's URL shape, as
/// `AzureOpenAI` clients call it): the path's model overrides the body's.
pub async fn images_for_model(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    request: Request,
) -> Response {
    handle(state, Operation::ImageGenerations, Some(model), request).await
}

/// `/openai/deployments/{model}/audio/transcriptions`.
pub async fn transcriptions_for_model(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    request: Request,
) -> Response {
    handle(state, Operation::AudioTranscriptions, Some(model), request).await
}

/// `/openai/deployments/{model}/audio/speech`.
pub async fn speech_for_model(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    request: Request,
) -> Response {
    handle(state, Operation::AudioSpeech, Some(model), request).await
}

/// `/v1/images/generations`.
pub async fn images(State(state): State<Arc<AppState>>, request: Request) -> Response {
    handle(state, Operation::ImageGenerations, None, request).await
}

/// `/v1/audio/transcriptions` (multipart).
pub async fn transcriptions(State(state): State<Arc<AppState>>, request: Request) -> Response {
    handle(state, Operation::AudioTranscriptions, None, request).await
}

/// `/v1/audio/speech` (binary answer, streamed).
pub async fn speech(State(state): State<Arc<AppState>>, request: Request) -> Response {
    handle(state, Operation::AudioSpeech, None, request).await
}

/// `/v1/moderations` (model optional).
pub async fn moderations(State(state): State<Arc<AppState>>, request: Request) -> Response {
    handle(state, Operation::Moderations, None, request).await
}

/// `/v1/rerank`, `/v2/rerank` (Cohere's format).
pub async fn rerank(State(state): State<Arc<AppState>>, request: Request) -> Response {
    handle(state, Operation::Rerank, None, request).await
}

async fn handle(
    state: Arc<AppState>,
    op: Operation,
    path_model: Option<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let id = call_id(request.headers());
    let mut attempt = Attempt::default();
    let result = respond(&state, op, path_model, request, started, &id, &mut attempt).await;
    attempt.finish(&state, &id, op.call_type(), result)
}

async fn respond(
    state: &Arc<AppState>,
    op: Operation,
    path_model: Option<String>,
    request: Request,
    started: Instant,
    call_id: &str,
    attempt: &mut Attempt,
) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
    attempt.model.clone_from(&path_model);
    let (identity, bytes) = attempt.authenticate_and_read(state, &parts, body).await?;
    let prompt_bytes = bytes.len();
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut body = if content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        OperationBody::Multipart(parse_multipart(content_type, bytes).await?)
    } else {
        OperationBody::Json(parse_object(&bytes)?)
    };
    if op == Operation::AudioTranscriptions {
        match &body {
            OperationBody::Multipart(form) if form.has_file("file") => {}
            OperationBody::Multipart(_) => {
                return Err(GatewayError::invalid_request(
                    "Missing required parameter: 'file'",
                    Some("file".into()),
                ));
            }
            OperationBody::Json(_) => {
                return Err(GatewayError::invalid_request(
                    "/v1/audio/transcriptions takes a multipart/form-data body",
                    None,
                ));
            }
        }
    }
    if let Some(model) = path_model {
        body.set_model(&model);
    }
    let requested_model = body.model().map(str::to_owned);
    let ctx = call_context(&parts.headers, op.route())?;
    // Admitted like chat (key access to the model, budgets, limits) and recorded once.
    let json = match &body {
        OperationBody::Json(m) => Some(m),
        OperationBody::Multipart(_) => None,
    };
    // An image call is priced by the size and quality it asks for (OpenAI's defaults when
    // it names none); the answer counts the images.
    let units = match (op, json) {
        (Operation::ImageGenerations, Some(m)) => {
            let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
            Units {
                image_size: Some(text("size").unwrap_or_else(|| "1024x1024".to_owned())),
                image_quality: text("quality"),
                ..Units::default()
            }
        }
        _ => Units::default(),
    };
    // The reservation prices what the request asks for: `n` images, the input's characters,
    // one search.
    let asked = match (op, json) {
        (Operation::ImageGenerations, Some(m)) => Some(Units {
            images: m.get("n").and_then(Value::as_u64).unwrap_or(1),
            ..units.clone()
        }),
        (Operation::AudioSpeech, Some(m)) => Some(Units {
            characters: m
                .get("input")
                .and_then(Value::as_str)
                .map_or(0, |t| t.chars().count() as u64),
            ..Units::default()
        }),
        (Operation::Rerank, _) => Some(Units {
            queries: 1,
            ..Units::default()
        }),
        _ => None,
    };
    let spec = CallSpec {
        call_id: call_id.to_owned(),
        call_type: op.call_type(),
        model: requested_model.clone().unwrap_or_default(),
        end_user: end_user(
            &parts.headers,
            json.and_then(|m| m.get("user")).and_then(Value::as_str),
        ),
        tags: tags(
            json.and_then(|m| m.get("metadata"))
                .and_then(Value::as_object),
            json.and_then(|m| m.get("tags")),
        ),
        metadata: json.and_then(|m| m.get("metadata")).cloned(),
        prompt_bytes,
        max_output_tokens: json
            .and_then(|m| m.get("max_tokens"))
            .and_then(Value::as_u64),
        units: asked,
    };
    let admission = match admit(state, attempt, &identity, spec).await {
        Ok(a) => a,
        Err(refused) => return Ok(*refused),
    };
    let (sink, pending) = deferred(state);
    let out = match state.router.operation(op, body, &ctx, sink).await {
        Ok(out) => out,
        Err(e) => {
            failed(admission, &e.error);
            return Ok(routed_error(e));
        }
    };
    let rec = UsageRecord {
        route: op.route().to_owned(),
        model: requested_model,
        model_group: out.info.model_group.clone(),
        deployment_id: out.info.deployment_id.clone(),
        provider: out.info.provider.clone(),
        usage: out.usage.clone(),
        units,
    };
    let (body, settle_now, settled_early) = match out.body {
        OperationBodyOut::Full(bytes) => (Body::from(bytes), Some((rec, admission)), None),
        OperationBodyOut::Stream(stream) => {
            let limit_headers = admission
                .as_ref()
                .map(|a| a.headers().to_vec())
                .unwrap_or_default();
            // Speech knows its usage (the input's characters) before its audio streams: it
            // settles here and its response carries the cost.
            let early = pending.fill(rec, admission).map(|s| (s, limit_headers));
            (
                Body::from_stream(stream.map(|r| r.map_err(std::io::Error::other))),
                None,
                early,
            )
        }
    };
    let mut response = (StatusCode::OK, body).into_response();
    if let Some((rec, admission)) = settle_now {
        let units = rec.units_used();
        record(state, rec.clone(), None);
        settled_units(
            admission,
            &mut response,
            rec.usage.tokens.as_ref(),
            units.as_ref(),
            &out.info,
        );
    }
    if let Some((s, limit_headers)) = settled_early {
        add_headers(response.headers_mut(), &limit_headers);
        spend_headers(&mut response, s);
    }
    let h = response.headers_mut();
    h.insert(http::header::CONTENT_TYPE, out.content_type);
    if h.get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream"))
    {
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
    }
    headers::call(h, &out.info, started.elapsed());
    Ok(response)
}

/// A JSON object body, unknown fields kept.
fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(GatewayError::invalid_request(
            "the request body must be a JSON object",
            None,
        )),
        Err(e) => Err(GatewayError::invalid_request(
            format!("the request body is not valid JSON: {e}"),
            None,
        )),
    }
}

/// Reads a `multipart/form-data` body into its parts.
pub(crate) async fn parse_multipart(
    content_type: &str,
    bytes: Bytes,
) -> Result<MultipartForm, GatewayError> {
    let bad = |e: multer::Error| {
        GatewayError::invalid_request(format!("could not read the multipart body: {e}"), None)
    };
    let boundary = multer::parse_boundary(content_type).map_err(bad)?;
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut form = MultipartForm::default();
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        let data = field.bytes().await.map_err(bad)?;
        form.parts.push(FormPart {
            name,
            filename,
            content_type,
            data,
        });
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn multipart_bodies_parse_into_parts() {
        let body = "--X\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--X--\r\n";
        let form = parse_multipart("multipart/form-data; boundary=X", Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(form.text("model"), Some("whisper"));
        assert!(form.has_file("file"));
        assert_eq!(form.parts[1].data, Bytes::from_static(b"RIFF"));
        assert!(
            parse_multipart("multipart/form-data", Bytes::new())
                .await
                .is_err()
        );
    }
}
