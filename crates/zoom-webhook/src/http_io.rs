//! Translation between API Gateway (via lambda_http) and the handler's plain types.

use lambda_http::{Body, Request, Response};

use crate::handler::{Incoming, Reply};

/// Raw body bytes exactly as Zoom sent them: lambda_http has already base64-decoded
/// bodies that API Gateway marked `isBase64Encoded`.
pub fn incoming(req: Request) -> Incoming {
    let (parts, body) = req.into_parts();
    let body = match body {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        // Body is non-exhaustive upstream; any future variant is treated as empty, which fails verification.
        #[allow(unreachable_patterns)]
        _ => Vec::new(),
    };
    Incoming {
        headers: parts.headers,
        body,
    }
}

pub fn respond(reply: Reply) -> Response<Body> {
    let mut builder = Response::builder()
        .status(reply.status)
        .header("content-type", "application/json");
    if reply.status == 413 {
        builder = builder.header("connection", "close");
    }
    builder
        .body(Body::Text(reply.body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::Text(String::from("{\"error\":\"internal\"}"))))
}
