//! `churn probe URL`: a plain HTTP/1.1 GET that succeeds on a 2xx answer.
//!
//! The container image carries no HTTP client, so its HEALTHCHECK (and any
//! exec probe) asks the binary itself. Only `http://host:port/path` on a
//! loopback or cluster address is needed, so this is a few lines of std
//! rather than an HTTP client crate.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::{Error, Result};

/// The parts of an `http://` URL a probe needs.
#[derive(Debug, PartialEq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub path: String,
}

pub fn parse(url: &str) -> Result<Target> {
    let bad = |why: &str| Error::Usage(format!("probe URL {url:?} {why}; expected http://HOST:PORT/PATH"));
    let rest = url.strip_prefix("http://").ok_or_else(|| bad("is not http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("has a bad port"))?),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    Ok(Target {
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

/// GETs the URL; Ok with the status line on 2xx, an error naming the
/// answer (or the connection failure) otherwise.
pub fn run(url: &str, timeout: Duration) -> Result<String> {
    let target = parse(url)?;
    let failed = |what: String| Error::Probe {
        url: url.to_string(),
        what,
    };
    let addr = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| failed(format!("cannot resolve {}: {e}", target.host)))?
        .next()
        .ok_or_else(|| failed(format!("{} resolves to no address", target.host)))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| failed(format!("cannot connect: {e}")))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| failed(e.to_string()))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nUser-Agent: churn-probe\r\n\r\n",
        target.path, target.host, target.port
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| failed(format!("cannot send: {e}")))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| failed(format!("no answer: {e}")))?;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or("").to_string();
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| failed(format!("not an HTTP answer: {status_line:?}")))?;
    if (200..300).contains(&code) {
        Ok(status_line)
    } else {
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.trim()).unwrap_or("");
        Err(failed(format!("{status_line} {body}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_and_path() {
        assert_eq!(
            parse("http://127.0.0.1:8000/ready").unwrap(),
            Target {
                host: "127.0.0.1".into(),
                port: 8000,
                path: "/ready".into()
            }
        );
        assert_eq!(parse("http://api").unwrap().port, 80);
        assert_eq!(parse("http://api").unwrap().path, "/");
    }

    #[test]
    fn refuses_what_it_cannot_probe() {
        for bad in ["https://x:1/", "ftp://x", "http://:80/", "http://x:port/"] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains("expected http://HOST:PORT/PATH"), "{bad}: {err}");
        }
    }
}
