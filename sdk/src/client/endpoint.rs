//! The enclave's base URL, `ws://host[:port]` or `wss://host[:port]`, parsed by `http::Uri` (the URI
//! type the WebSocket library itself uses), never by hand.
//!
//! Input: the caller's endpoint text (trusted configuration, but typed by a person). Output: an
//! [`Endpoint`] that says whether TLS is used, which host and port to reach, and the URL of a
//! function; or [`ConfigError::Endpoint`]. Refused: other schemes, no host, user info (`ws://user@h`:
//! the SDK sends no credentials in URLs, and a parser that missed the `@` would connect to the
//! wrong host), and any path, query or fragment (the SDK appends `/v1/run/{function_id}` itself).

use std::net::IpAddr;

use tokio_tungstenite::tungstenite::http::Uri;

use crate::error::ConfigError;

// What each refusal says: the part that is wrong, and the form to give instead.
const NOT_A_URL: &str = "is not a URL; give ws://host:port or wss://host[:port]";
const SCHEME: &str = "does not start with ws:// or wss://; give ws://host:port or wss://host[:port]";
const NO_HOST: &str = "names no host; give ws://host:port or wss://host[:port]";
const USER_INFO: &str =
    "has user info (user@): the SDK sends no credentials in URLs (use a token); give ws://host:port";
const PATH: &str = "has a path, query or fragment; give only the base URL ws://host:port (the SDK appends \
                    /v1/run/FN_ID itself)";
const PORT: &str = "has a port outside 0..=65535";

/// A parsed, checked endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    tls: bool,
    /// The host without IPv6 brackets: for TLS server names and the loopback test.
    host: String,
    port: u16,
}

impl Endpoint {
    /// Parses `text`.
    pub(crate) fn parse(text: &str) -> Result<Self, ConfigError> {
        let refused = |problem| ConfigError::Endpoint { url: text.to_owned(), problem };
        let uri: Uri = text.parse().map_err(|_| refused(NOT_A_URL))?;
        let tls = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("ws") => false,
            Some(s) if s.eq_ignore_ascii_case("wss") => true,
            _ => return Err(refused(SCHEME)),
        };
        let authority = uri.authority().ok_or_else(|| refused(NO_HOST))?;
        if authority.as_str().contains('@') {
            return Err(refused(USER_INFO));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() || text.contains('#') {
            return Err(refused(PATH));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(refused(NO_HOST));
        }
        let port = match authority.port() {
            // `http::Uri` takes `host:99999` and then reports no port: the text names none we can use.
            None if authority.as_str() != authority.host() => return Err(refused(PORT)),
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(port) => port.as_str().parse::<u16>().map_err(|_| refused(PORT))?,
        };
        Ok(Self { tls, host: host.to_owned(), port })
    }

    /// Whether the connection runs TLS (`wss://`).
    pub(crate) fn tls(&self) -> bool {
        self.tls
    }

    /// The host, without IPv6 brackets.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// `host:port` to connect to (IPv6 addresses in brackets).
    pub(crate) fn socket_addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL of the session for `function` (`function_id`, or Cape's `user/name`).
    pub(crate) fn function_url(&self, function: &str) -> String {
        format!("{}://{}/v1/run/{function}", if self.tls { "wss" } else { "ws" }, self.socket_addr())
    }

    /// `localhost` or a loopback address: where plain `ws://` crosses no network.
    pub(crate) fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost") || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<(bool, String, u16), ConfigError> {
        Endpoint::parse(text).map(|e| (e.tls, e.host, e.port))
    }

    #[test]
    fn hosts_ports_and_schemes() {
        assert_eq!(parsed("ws://127.0.0.1:9000"), Ok((false, "127.0.0.1".into(), 9000)));
        assert_eq!(parsed("ws://127.0.0.1:9000/"), Ok((false, "127.0.0.1".into(), 9000)));
        assert_eq!(parsed("wss://enclave.example"), Ok((true, "enclave.example".into(), 443)));
        assert_eq!(parsed("ws://localhost"), Ok((false, "localhost".into(), 80)));
        assert_eq!(parsed("WSS://Enclave.Example:8443"), Ok((true, "Enclave.Example".into(), 8443)));
        assert_eq!(parsed("ws://[::1]:9000"), Ok((false, "::1".into(), 9000)));
        let v6 = Endpoint::parse("ws://[::1]:9000").unwrap();
        assert_eq!(v6.socket_addr(), "[::1]:9000");
        assert_eq!(v6.function_url("echo"), "ws://[::1]:9000/v1/run/echo");
        assert_eq!(Endpoint::parse("wss://e.example").unwrap().function_url("a/b"), "wss://e.example:443/v1/run/a/b");
    }

    /// A user-info part names no host of its own: `ws://user@host` is refused, not read as a host
    /// called `user@host` (or worse, connected to as `host` with the user dropped silently).
    #[test]
    fn what_is_not_a_base_url_is_refused() {
        for (bad, problem) in [
            ("ws://user@enclave.example:9000", USER_INFO),
            ("ws://user:pass@127.0.0.1:9000", USER_INFO),
            ("http://127.0.0.1:9000", SCHEME),
            ("127.0.0.1:9000", SCHEME),
            ("ws://127.0.0.1:9000/v1/run/echo", PATH),
            ("ws://127.0.0.1:9000?x=1", PATH),
            ("ws://127.0.0.1:9000#frag", PATH),
            ("ws://:9000", NO_HOST),
            ("ws://", NOT_A_URL),
            ("ws://127.0.0.1:99999", PORT),
            ("", NOT_A_URL),
        ] {
            assert_eq!(Endpoint::parse(bad), Err(ConfigError::Endpoint { url: bad.to_owned(), problem }), "{bad}");
        }
        // The message says what to give instead of a URL with a path (issue 17).
        assert_eq!(
            Endpoint::parse("ws://127.0.0.1:8443/v1/run/echo").unwrap_err().to_string(),
            "endpoint \"ws://127.0.0.1:8443/v1/run/echo\" has a path, query or fragment; give only the base URL \
             ws://host:port (the SDK appends /v1/run/FN_ID itself)"
        );
    }

    #[test]
    fn loopback_is_localhost_or_a_loopback_address() {
        for near in ["ws://127.0.0.1:1", "ws://localhost:1", "ws://LOCALHOST", "ws://[::1]:1", "ws://127.8.0.1"] {
            assert!(Endpoint::parse(near).unwrap().is_loopback(), "{near}");
        }
        for far in ["ws://enclave.example:1", "ws://10.0.0.7:1", "ws://[2001:db8::1]:1", "ws://localhost.example"] {
            assert!(!Endpoint::parse(far).unwrap().is_loopback(), "{far}");
        }
    }
}
