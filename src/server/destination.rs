//! Where callbacks may go. A callback URL is the requester's choice, so
//! without care it would let any token holder make the service reach what
//! only the service can reach: the loopback interface, the cluster's
//! private network, a cloud's metadata endpoint (SSRF).
//!
//! Rules: `https` only, unless the operator allows `http`; no credentials in
//! the URL; the host is resolved and every address it resolves to must be
//! public — loopback, private, link-local, unique-local, carrier-grade NAT,
//! multicast, reserved, documentation and the cloud metadata addresses are
//! refused (IPv4-mapped and NAT64 IPv6 addresses count as the IPv4 address
//! they carry) — unless the operator allow-lists a CIDR that holds it.
//! Submission checks the URL and its addresses; delivery resolves again and
//! connects only to an address it has just checked (the connector below
//! does both, so DNS cannot change the answer in between).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long a lookup or one connection attempt may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// An IPv4 or IPv6 network, `10.0.0.0/8` or `fd00::/8` (a bare address is a
/// network of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.prefix),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let (bytes, bits) = (usize::from(prefix / 8), prefix % 8);
    a[..bytes] == b[..bytes] && (bits == 0 || (a[bytes] ^ b[bytes]) >> (8 - bits) == 0)
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a CIDR (e.g. 10.20.0.0/16 or fd00:1::/64)");
        let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let network = canonical(network);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        if mask(network, prefix) != network {
            return Err(format!("{s:?} has bits set below its prefix: write the network address"));
        }
        Ok(Cidr { network, prefix })
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    fn apply<const N: usize>(mut octets: [u8; N], prefix: u8) -> [u8; N] {
        for (i, o) in octets.iter_mut().enumerate() {
            let keep = u32::from(prefix).saturating_sub(8 * i as u32).min(8);
            *o &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
        }
        octets
    }
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(apply(v4.octets(), prefix))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(apply(v6.octets(), prefix))),
    }
}

/// The IPv4 address an IPv6 address carries (mapped `::ffff:a.b.c.d`, or
/// NAT64 `64:ff9b::a.b.c.d`), else the address itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

/// Why callbacks may not reach `ip`, or `None` when it is a public address.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    const METADATA: [&str; 5] =
        ["169.254.169.254", "169.254.170.2", "168.63.129.16", "100.100.100.200", "fd00:ec2::254"];
    let ip = canonical(ip);
    if METADATA.iter().any(|m| m.parse::<IpAddr>().ok() == Some(ip)) {
        return Some("a cloud metadata address");
    }
    let within = |cidr: &str| cidr.parse::<Cidr>().expect("a valid built-in CIDR").contains(ip);
    let table: &[(&str, &'static str)] = &[
        ("0.0.0.0/8", "an unspecified address"),
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("169.254.0.0/16", "a link-local address"),
        ("192.0.0.0/24", "an IETF protocol address"),
        ("192.0.2.0/24", "a documentation address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("fc00::/7", "a unique-local address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
        ("2001:db8::/32", "a documentation address"),
        ("100::/64", "a discard address"),
    ];
    table.iter().find(|(cidr, _)| within(cidr)).map(|(_, why)| *why)
}

/// Resolves a host and port to addresses (the system resolver, or a
/// stand-in in tests).
pub type Resolver =
    Arc<dyn Fn(String, u16) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>> + Send + Sync>;

/// The system resolver.
pub fn system_resolver() -> Resolver {
    Arc::new(|host, port| Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) }))
}

/// The operator's rules for callback destinations.
#[derive(Clone)]
pub struct Destinations {
    /// Plain `http://` URLs are accepted.
    pub allow_http: bool,
    /// Networks callbacks may reach although they are not public.
    pub allowed: Vec<Cidr>,
    /// How hosts are resolved.
    pub resolver: Resolver,
}

impl std::fmt::Debug for Destinations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destinations").field("allow_http", &self.allow_http).field("allowed", &self.allowed).finish()
    }
}

impl Default for Destinations {
    fn default() -> Self {
        Destinations { allow_http: false, allowed: Vec::new(), resolver: system_resolver() }
    }
}

/// A URL checked for its form: where it points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host, without brackets.
    pub host: String,
    /// The port (default 443 for https, 80 for http).
    pub port: u16,
}

impl Destinations {
    /// Check the form of `url`: scheme, host, no credentials.
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, String> {
        let uri: Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
        let scheme = uri.scheme_str().unwrap_or_default();
        let default_port = match scheme {
            "https" => 443,
            "http" if self.allow_http => 80,
            "http" => {
                return Err(
                    "callbacks must use https:// (this server does not allow http://: see --callback-allow-http)"
                        .into(),
                )
            }
            _ => return Err(format!("{url:?} is not an https:// URL")),
        };
        let authority = uri.authority().ok_or_else(|| format!("{url:?} has no host"))?;
        if authority.as_str().contains('@') {
            return Err("the URL must not carry credentials (user:password@): use callback.authentication".into());
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(Endpoint { host, port: authority.port_u16().unwrap_or(default_port) })
    }

    /// Why callbacks may not reach `ip`, unless an allowed network holds it.
    pub fn refuses(&self, ip: IpAddr) -> Option<&'static str> {
        if self.allowed.iter().any(|c| c.contains(ip)) {
            return None;
        }
        forbidden(ip)
    }

    /// Resolve `endpoint` and return its addresses, all of them allowed, or
    /// why not (naming the first address refused).
    pub async fn addresses(&self, endpoint: &Endpoint) -> Result<Vec<SocketAddr>, String> {
        let addrs = match endpoint.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, endpoint.port)],
            Err(_) => {
                let lookup = (self.resolver)(endpoint.host.clone(), endpoint.port);
                match tokio::time::timeout(STEP_TIMEOUT, lookup).await {
                    Ok(Ok(addrs)) if !addrs.is_empty() => addrs,
                    _ => return Err(format!("host {} does not resolve", endpoint.host)),
                }
            }
        };
        for addr in &addrs {
            if let Some(why) = self.refuses(addr.ip()) {
                return Err(format!(
                    "host {} resolves to {} ({why}), which callbacks may not reach; an operator can allow a \
                     network with --callback-allow-cidr",
                    endpoint.host,
                    addr.ip()
                ));
            }
        }
        Ok(addrs)
    }

    /// The whole check of a URL at submission.
    pub async fn admit(&self, url: &str) -> Result<(), String> {
        let endpoint = self.endpoint(url)?;
        self.addresses(&endpoint).await.map(|_| ())
    }

    /// A connector that resolves, checks and connects to a checked address,
    /// for [`hyper_rustls::HttpsConnector`] to wrap.
    pub fn connector(&self) -> Connector {
        Connector { rules: self.clone() }
    }
}

/// Why a delivery connection was not made: either the destination broke a
/// rule (the reason is shown) or the connection failed (the reason is only
/// logged: whether it was refused, reset or timed out would tell whether a
/// port is open).
#[derive(Debug)]
pub enum ConnectError {
    /// The destination is not allowed.
    Refused(String),
    /// No connection could be made.
    Unreachable(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Refused(why) => f.write_str(why),
            ConnectError::Unreachable(why) => write!(f, "no connection: {why}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// The TCP connector of callback deliveries (see [`Destinations::connector`]).
#[derive(Clone)]
pub struct Connector {
    rules: Destinations,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let rules = self.rules.clone();
        Box::pin(async move {
            let endpoint = rules.endpoint(&uri.to_string()).map_err(ConnectError::Refused)?;
            let addrs = rules.addresses(&endpoint).await.map_err(ConnectError::Refused)?;
            let mut last = String::from("no address");
            for addr in addrs {
                match tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => {
                        let _ = stream.set_nodelay(true);
                        return Ok(TokioIo::new(stream));
                    }
                    Ok(Err(e)) => last = format!("{addr}: {e}"),
                    Err(_) => last = format!("{addr}: no answer within {STEP_TIMEOUT:?}"),
                }
            }
            Err(ConnectError::Unreachable(last))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_and_metadata_addresses_are_refused_and_public_ones_not() {
        for (addr, why) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("169.254.1.1", "link-local"),
            ("fe80::1", "link-local"),
            ("fd12:3456::1", "unique-local"),
            ("fc00::1", "unique-local"),
            ("169.254.169.254", "metadata"),
            ("::ffff:169.254.169.254", "metadata"),
            ("64:ff9b::a9fe:a9fe", "metadata"),
            ("fd00:ec2::254", "metadata"),
            ("168.63.129.16", "metadata"),
            ("100.100.100.200", "metadata"),
            ("169.254.170.2", "metadata"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("192.0.2.7", "documentation"),
            ("2001:db8::1", "documentation"),
        ] {
            let got = forbidden(ip(addr)).unwrap_or_else(|| panic!("{addr} was allowed"));
            assert!(got.contains(why), "{addr}: {got}");
        }
        for addr in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(forbidden(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn cidrs_parse_contain_and_refuse_host_bits() {
        let c: Cidr = "10.20.0.0/16".parse().unwrap();
        assert!(c.contains(ip("10.20.3.4")) && !c.contains(ip("10.21.0.0")) && !c.contains(ip("::1")));
        assert!(c.contains(ip("::ffff:10.20.0.9")), "mapped addresses count as IPv4");
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: Cidr = "fd00:ec2::/32".parse().unwrap();
        assert!(v6.contains(ip("fd00:ec2::254")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("127.0.0.1")));
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "x/8", "10.0.0.0/", "::1/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_must_be_https_without_credentials_unless_http_is_allowed() {
        let strict = Destinations::default();
        assert_eq!(
            strict.endpoint("https://ci.example:8443/hook").unwrap(),
            Endpoint { host: "ci.example".into(), port: 8443 }
        );
        assert_eq!(strict.endpoint("https://[2606:4700::1111]/h").unwrap().host, "2606:4700::1111");
        assert!(strict.endpoint("http://ci.example/hook").unwrap_err().contains("--callback-allow-http"));
        assert!(strict.endpoint("https://user:pw@ci.example/").unwrap_err().contains("credentials"));
        assert!(strict.endpoint("ftp://ci.example/").is_err());
        let lax = Destinations { allow_http: true, ..Destinations::default() };
        assert_eq!(lax.endpoint("http://ci.example/hook").unwrap().port, 80);
    }

    #[tokio::test]
    async fn every_resolved_address_is_checked_and_allow_lists_open_a_network() {
        let two: Resolver = Arc::new(|_, port| {
            Box::pin(
                async move { Ok(vec![SocketAddr::new(ip("8.8.8.8"), port), SocketAddr::new(ip("10.0.0.5"), port)]) },
            )
        });
        let rules = Destinations { resolver: two.clone(), ..Destinations::default() };
        let err = rules.admit("https://mixed.example/hook").await.unwrap_err();
        assert!(err.contains("10.0.0.5 (a private address)") && err.contains("--callback-allow-cidr"), "{err}");
        let rules =
            Destinations { resolver: two, allowed: vec!["10.0.0.0/24".parse().unwrap()], ..Destinations::default() };
        assert!(rules.admit("https://mixed.example/hook").await.is_ok());
        let none: Resolver = Arc::new(|_, _| Box::pin(async { Ok(Vec::new()) }));
        let rules = Destinations { resolver: none, ..Destinations::default() };
        assert!(rules.admit("https://nowhere.example/").await.unwrap_err().contains("does not resolve"));
        let err = Destinations::default().admit("https://127.0.0.1:9/hook").await.unwrap_err();
        assert!(err.contains("loopback"), "{err}");
    }

    #[tokio::test]
    async fn the_connector_resolves_once_and_connects_to_the_address_it_checked() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // Bound on 127.0.0.2, allowed; a second lookup would answer 127.0.0.1 (refused).
        let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let lookups = Arc::new(AtomicUsize::new(0));
        let counter = lookups.clone();
        let rebinding: Resolver = Arc::new(move |_, port| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let to = if n == 0 { "127.0.0.2" } else { "127.0.0.1" };
            Box::pin(async move { Ok(vec![SocketAddr::new(to.parse().unwrap(), port)]) })
        });
        let rules = Destinations { allow_http: true, allowed: vec!["127.0.0.2".parse().unwrap()], resolver: rebinding };
        let mut connector = rules.connector();
        let uri: Uri = format!("http://rebind.example:{port}/hook").parse().unwrap();
        let stream = tower_service::Service::call(&mut connector, uri.clone()).await.expect("connects to 127.0.0.2");
        listener.accept().await.expect("the listener on the checked address saw the connection");
        assert_eq!(stream.inner().peer_addr().unwrap().ip(), ip("127.0.0.2"));
        assert_eq!(lookups.load(Ordering::SeqCst), 1, "one lookup per connection");
        // The next connection resolves again, meets 127.0.0.1, and is refused without connecting.
        let err = tower_service::Service::call(&mut connector, uri).await.unwrap_err();
        assert!(matches!(&err, ConnectError::Refused(why) if why.contains("127.0.0.1 (a loopback address)")), "{err}");
    }
}
