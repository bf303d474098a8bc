//! Calls a model in-process, without the proxy: a completion, a stream and embeddings.
//!
//! `OPENAI_API_KEY=... cargo run --example chat -- openai/gpt-4o-mini`
//! (or `OPENAI_BASE_URL=http://127.0.0.1:PORT/v1` to use `tollgate-mock`).

use futures::StreamExt;
use tollgate::{ChatCompletionRequest, ChatMessage, Tollgate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "openai/gpt-4o-mini".to_owned());
    let client = Tollgate::new()?;

    let answer = client
        .chat(&model, vec![ChatMessage::user("Say hello in five words.")])
        .await?;
    println!(
        "reply: {}",
        answer.choices[0].message.text_content().unwrap_or_default()
    );
    if let Some(usage) = &answer.usage {
        println!(
            "usage: {} prompt + {} completion tokens",
            usage.prompt_tokens, usage.completion_tokens
        );
    }

    let mut request = ChatCompletionRequest::new(&model, vec![ChatMessage::user("Count to five.")]);
    request.stream = Some(true);
    let mut stream = Box::pin(client.completion_stream(request).await?);
    print!("stream: ");
    while let Some(chunk) = stream.next().await {
        for choice in chunk?.choices {
            print!("{}", choice.delta.content.unwrap_or_default());
        }
    }
    println!();

    let embedding_model = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "openai/text-embedding-3-small".to_owned());
    let vectors = client
        .embed(&embedding_model, vec!["hello".into(), "world".into()])
        .await?;
    println!("embeddings: {} vectors", vectors.data.len());
    Ok(())
}
