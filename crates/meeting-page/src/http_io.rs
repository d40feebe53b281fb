//! Translation between API Gateway (via lambda_http) and the handler's plain types.

use lambda_http::{Body, Request, RequestExt, Response};

use crate::handler::PageResponse;
use zoom_symbl_core::page_link::TOKEN_PARAM;

/// The request's method, `{meeting_key}` and the link's token.
pub fn incoming(req: &Request) -> (String, String, Option<String>) {
    let key = req
        .path_parameters_ref()
        .and_then(|p| p.first("meeting_key"))
        .unwrap_or_default()
        .to_owned();
    let token = req
        .query_string_parameters_ref()
        .and_then(|q| q.first(TOKEN_PARAM))
        .map(str::to_owned);
    (req.method().as_str().to_owned(), key, token)
}

pub fn respond(page: PageResponse) -> Response<Body> {
    let mut builder = Response::builder().status(page.status);
    for (name, value) in &page.headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Body::Text(page.body))
        .unwrap_or_else(|_| Response::new(Body::Text(String::from("internal error"))))
}
