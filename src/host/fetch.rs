//! HTTP/1.1 to a child on loopback: a GET whose whole answer is wanted (polls, `/metrics`,
//! `/epg.xml`), and a request handed on as it comes (the front door's proxy), one
//! connection each.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot connect to 127.0.0.1:{0}: {1}")]
    Connect(u16, std::io::Error),
    #[error("HTTP to 127.0.0.1:{0}: {1}")]
    Http(u16, hyper::Error),
    #[error("no answer from 127.0.0.1:{0} within {1:?}")]
    Timeout(u16, Duration),
    #[error("bad request line for 127.0.0.1:{0}: {1}")]
    Request(u16, String),
}

/// A whole answer.
pub struct Fetched {
    pub status: StatusCode,
    pub body: Bytes,
}

/// `GET path` from the child on `port`, the whole answer within `limit`.
pub async fn get(port: u16, path: &str, limit: Duration) -> Result<Fetched, FetchError> {
    let req = Request::get(path)
        .header("host", format!("127.0.0.1:{port}"))
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| FetchError::Request(port, e.to_string()))?;
    let whole = async {
        let r = send(port, req).await?;
        let status = r.status();
        let body = r
            .into_body()
            .collect()
            .await
            .map_err(|e| FetchError::Http(port, e))?
            .to_bytes();
        Ok(Fetched { status, body })
    };
    tokio::time::timeout(limit, whole)
        .await
        .map_err(|_| FetchError::Timeout(port, limit))?
}

/// Sends `req` to the child on `port`; the answer's body streams as it comes.
pub async fn send<B>(port: u16, req: Request<B>) -> Result<Response<Incoming>, FetchError>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| FetchError::Connect(port, e))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| FetchError::Http(port, e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "Connection to a channel ended with an error.");
        }
    });
    sender
        .send_request(req)
        .await
        .map_err(|e| FetchError::Http(port, e))
}
