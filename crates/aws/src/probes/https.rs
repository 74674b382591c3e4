//! The HTTPS probe: a GET of the configured URL, healthy on 2xx.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// `https://host[:port][/path]` → (host, port, path).
pub(super) fn parse_https_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{url:?} is not an https:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse()
                .map_err(|_| format!("{url:?} has a bad port"))?,
        ),
        None => (authority, 443),
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok((host.to_owned(), port, path))
}

/// GET `path`; 2xx is healthy.
pub(super) async fn https_get(
    stream: &mut TlsStream<TcpStream>,
    host: &str,
    path: &str,
) -> Result<String, String> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: drctl-health-checker\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut head = Vec::with_capacity(256);
    let mut buffer = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream
            .read(&mut buffer)
            .await
            .map_err(|e| format!("reading the response: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..n]);
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or_default();
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {status_line:?}"))?;
    if (200..300).contains(&code) {
        Ok(format!("HTTP {code}"))
    } else {
        Err(format!("HTTP {code}"))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_https_url;

    #[test]
    fn https_urls_parse_into_host_port_and_path() {
        assert_eq!(
            parse_https_url("https://status.example.com/health").unwrap(),
            ("status.example.com".to_owned(), 443, "/health".to_owned())
        );
        assert_eq!(
            parse_https_url("https://127.0.0.1:8443").unwrap(),
            ("127.0.0.1".to_owned(), 8443, "/".to_owned())
        );
        assert!(parse_https_url("http://example.com").is_err());
        assert!(parse_https_url("https://:443/").is_err());
    }
}
