//! TLS (`docs/tls.md`): the `tls-*` parameters made into rustls configurations — the
//! acceptor of `tls-port` and the client side of `tls-replication` — rebuilt whenever one of
//! them changes (`CONFIG SET tls-cert-file ...` takes effect for new connections, no
//! restart); and [`Conn`], a client connection that is plain TCP or TLS over it.
//!
//! Redis's semantics: `tls-auth-clients yes` (the default) requires a client certificate
//! signed by `tls-ca-cert-file`/`tls-ca-cert-dir`, `optional` verifies one if given, `no`
//! asks for none. A replica verifies its master's certificate chain against the same CAs
//! but not the host name (Redis does not either: masters are often reached by IP).

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, SupportedProtocolVersion};
use tokio::net::TcpStream;

use crate::config::Config;
use crate::shared::Shared;

/// A client's connection: plain TCP or TLS (the replication crate's stream, server side).
pub type Conn = replication::client::Stream<tokio_rustls::server::TlsStream<TcpStream>>;

/// The TLS configurations in force.
#[derive(Default)]
pub struct Tls {
    /// For connections accepted on `tls-port`.
    pub acceptor: ArcSwapOption<tokio_rustls::TlsAcceptor>,
    /// For this server's own connections to a master when `tls-replication yes`.
    pub client: ArcSwapOption<replication::client::TlsClient>,
}

/// Whether a parameter is one of the TLS ones (a change rebuilds the configurations).
pub fn is_tls_param(name: &str) -> bool {
    name.starts_with("tls-")
}

/// Builds the configurations from the parameters and puts them in force. An error (a file
/// that cannot be read, a bad certificate, a cipher suite name rustls does not have) leaves
/// the previous ones in force and names what failed.
pub fn reload(shared: &Shared) -> Result<(), String> {
    let (server, client) = shared.with_config(|c| {
        let wanted = c.get_u64("tls-port") > 0 || c.get_bool("tls-replication");
        if !wanted {
            return Ok((None, None));
        }
        let server = if c.get_u64("tls-port") > 0 {
            Some(server_config(c)?)
        } else {
            None
        };
        let client = if c.get_bool("tls-replication") {
            Some(client_config(c)?)
        } else {
            None
        };
        Ok::<_, String>((server, client))
    })?;
    shared
        .tls
        .acceptor
        .store(server.map(|s| Arc::new(tokio_rustls::TlsAcceptor::from(Arc::new(s)))));
    shared.tls.client.store(client.map(|config| {
        Arc::new(replication::client::TlsClient {
            config: Arc::new(config),
            // Not verified (see `ChainOnly`); rustls needs one to send SNI.
            server_name: "strata-master".into(),
        })
    }));
    Ok(())
}

fn read_certs(path: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{what} '{path}': {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what} '{path}': {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} '{path}': no certificate in it"));
    }
    Ok(certs)
}

/// A private key from a PEM file: PKCS#8, PKCS#1 or SEC1; or PKCS#8 encrypted with a
/// password (`ENCRYPTED PRIVATE KEY`, what `openssl ... -passout` writes), decrypted with
/// `pass` (`tls-key-file-pass` / `tls-client-key-file-pass`).
fn read_key(path: &str, what: &str, pass: &str) -> Result<PrivateKeyDer<'static>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{what} '{path}': {e}"))?;
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        if pass.is_empty() {
            return Err(format!(
                "{what} '{path}': the key is encrypted and no password is configured"
            ));
        }
        let start = text
            .find("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            .unwrap_or(0);
        let (_, der) = pkcs8::der::pem::decode_vec(text[start..].trim().as_bytes())
            .map_err(|e| format!("{what} '{path}': {e}"))?;
        let enc = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| format!("{what} '{path}': {e}"))?;
        let doc = enc
            .decrypt(pass.as_bytes())
            .map_err(|e| format!("{what} '{path}': cannot decrypt the key: {e}"))?;
        return Ok(PrivateKeyDer::Pkcs8(doc.as_bytes().to_vec().into()));
    }
    PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| format!("{what} '{path}': {e}"))
}

/// The CAs of `tls-ca-cert-file` and every certificate file in `tls-ca-cert-dir`.
fn roots(c: &Config) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    let file = c.get("tls-ca-cert-file");
    if !file.is_empty() {
        for cert in read_certs(file, "tls-ca-cert-file")? {
            store
                .add(cert)
                .map_err(|e| format!("tls-ca-cert-file '{file}': {e}"))?;
        }
    }
    let dir = c.get("tls-ca-cert-dir");
    if !dir.is_empty() {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("tls-ca-cert-dir '{dir}': {e}"))?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file() {
                let name = p.display().to_string();
                // Hash links and other files that are not PEM certificates are skipped.
                if let Ok(certs) = read_certs(&name, "tls-ca-cert-dir") {
                    for cert in certs {
                        let _ = store.add(cert);
                    }
                }
            }
        }
    }
    Ok(store)
}

/// `tls-protocols`: `TLSv1.2`, `TLSv1.3` (empty: both). Older versions are refused by name.
fn versions(c: &Config) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let text = c.get("tls-protocols");
    if text.trim().is_empty() {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    }
    let mut out = Vec::new();
    for w in text.split_whitespace() {
        match w.to_ascii_lowercase().as_str() {
            "tlsv1.3" => out.push(&rustls::version::TLS13),
            "tlsv1.2" => out.push(&rustls::version::TLS12),
            _ => {
                return Err(format!(
                    "tls-protocols: '{w}' is not supported (TLSv1.2, TLSv1.3)"
                ))
            }
        }
    }
    Ok(out)
}

/// rustls's ring provider with the cipher suites `tls-ciphersuites` (TLS 1.3, IANA names as
/// OpenSSL takes them, `TLS_AES_256_GCM_SHA384`) and `tls-ciphers` (TLS 1.2, OpenSSL names,
/// `ECDHE-RSA-AES128-GCM-SHA256`) allow, `:`-separated; empty: all of them.
fn provider(c: &Config) -> Result<Arc<CryptoProvider>, String> {
    let mut p = rustls::crypto::ring::default_provider();
    let v13 = c.get("tls-ciphersuites");
    let v12 = c.get("tls-ciphers");
    if v13.trim().is_empty() && v12.trim().is_empty() {
        return Ok(Arc::new(p));
    }
    let openssl_name = |iana: &str| -> String {
        // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 -> ECDHE-RSA-AES256-GCM-SHA384
        iana.trim_start_matches("TLS_")
            .replace("_WITH_", "_")
            .replace("AES_128", "AES128")
            .replace("AES_256", "AES256")
            .replace("CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305")
            .replace('_', "-")
    };
    // rustls calls TLS 1.3 suites TLS13_*; their IANA (and OpenSSL) names are TLS_*.
    let iana13 = |rustls_name: &str| rustls_name.replacen("TLS13_", "TLS_", 1);
    let mut unknown = Vec::new();
    let wanted13: Vec<&str> = v13.split(':').filter(|s| !s.is_empty()).collect();
    let wanted12: Vec<&str> = v12.split(':').filter(|s| !s.is_empty()).collect();
    for w in &wanted13 {
        if !p
            .cipher_suites
            .iter()
            .any(|s| s.tls13().is_some() && iana13(&format!("{:?}", s.suite())) == *w)
        {
            unknown.push(w.to_string());
        }
    }
    for w in &wanted12 {
        if !p
            .cipher_suites
            .iter()
            .any(|s| s.tls13().is_none() && openssl_name(&format!("{:?}", s.suite())) == *w)
        {
            unknown.push(w.to_string());
        }
    }
    if !unknown.is_empty() {
        return Err(format!(
            "unknown or unsupported cipher suites: {}",
            unknown.join(", ")
        ));
    }
    p.cipher_suites.retain(|s| {
        let name = format!("{:?}", s.suite());
        if s.tls13().is_some() {
            wanted13.is_empty() || wanted13.contains(&iana13(&name).as_str())
        } else {
            wanted12.is_empty() || wanted12.contains(&openssl_name(&name).as_str())
        }
    });
    Ok(Arc::new(p))
}

fn server_config(c: &Config) -> Result<rustls::ServerConfig, String> {
    let cert_file = c.get("tls-cert-file");
    let key_file = c.get("tls-key-file");
    if cert_file.is_empty() || key_file.is_empty() {
        return Err("tls-port needs tls-cert-file and tls-key-file".into());
    }
    let certs = read_certs(cert_file, "tls-cert-file")?;
    let key = read_key(key_file, "tls-key-file", c.get("tls-key-file-pass"))?;
    let provider = provider(c)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(c)?)
        .map_err(|e| format!("tls-protocols: {e}"))?;
    let auth = c.get("tls-auth-clients");
    let builder = if auth == "no" {
        builder.with_no_client_auth()
    } else {
        let roots = roots(c)?;
        if roots.is_empty() {
            return Err(format!(
                "tls-auth-clients {auth} needs tls-ca-cert-file or tls-ca-cert-dir"
            ));
        }
        let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let v = if auth == "optional" {
            v.allow_unauthenticated()
        } else {
            v
        };
        builder.with_client_cert_verifier(v.build().map_err(|e| format!("tls-ca-cert: {e}"))?)
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls-cert-file/tls-key-file: {e}"))?;
    cfg.ignore_client_order = c.get_bool("tls-prefer-server-ciphers");
    Ok(cfg)
}

fn client_config(c: &Config) -> Result<rustls::ClientConfig, String> {
    let provider = provider(c)?;
    let roots = Arc::new(roots(c)?);
    let inner =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| format!("tls-ca-cert: {e}"))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions(c)?)
        .map_err(|e| format!("tls-protocols: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(replication::client::ChainOnly::new(inner)));
    // The certificate shown to the master: tls-client-cert-file, else tls-cert-file.
    let (cert, key, pass) = match c.get("tls-client-cert-file") {
        "" => (
            c.get("tls-cert-file"),
            c.get("tls-key-file"),
            c.get("tls-key-file-pass"),
        ),
        f => (
            f,
            c.get("tls-client-key-file"),
            c.get("tls-client-key-file-pass"),
        ),
    };
    if cert.is_empty() || key.is_empty() {
        return Ok(builder.with_no_client_auth());
    }
    builder
        .with_client_auth_cert(
            read_certs(cert, "tls-client-cert-file")?,
            read_key(key, "tls-client-key-file", pass)?,
        )
        .map_err(|e| format!("tls client certificate: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(c: &Config) -> Result<Vec<String>, String> {
        Ok(provider(c)?
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect())
    }

    #[test]
    fn cipher_suites_by_their_openssl_names() {
        let mut c = Config::default();
        assert!(names(&c).map(|n| n.len() > 4).unwrap_or(false));
        c.set("tls-ciphersuites", "TLS_AES_256_GCM_SHA384")
            .expect("set");
        c.set(
            "tls-ciphers",
            "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305",
        )
        .expect("set");
        assert_eq!(
            names(&c),
            Ok(vec![
                "TLS13_AES_256_GCM_SHA384".to_string(),
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".to_string(),
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string(),
            ])
        );
        c.set("tls-ciphers", "RC4-MD5").expect("set");
        assert_eq!(
            names(&c),
            Err("unknown or unsupported cipher suites: RC4-MD5".to_string())
        );
        c.set("tls-protocols", "TLSv1.1").expect("set");
        assert!(versions(&c).is_err());
        c.set("tls-protocols", "TLSv1.3").expect("set");
        assert_eq!(versions(&c).map(|v| v.len()), Ok(1));
    }
}
