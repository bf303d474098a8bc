//! Front doors other than OpenAI chat: each translates its wire format to the OpenAI chat
//! request the router understands, and the router's chat answers back, with no I/O inside.

pub mod messages;
pub mod responses;
