//! The MQTT probe: a CONNECT with the canary's certificate, answered by a CONNACK.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// MQTT 3.1.1 CONNECT (clean session) → CONNACK, then DISCONNECT.
pub(super) async fn mqtt_connect(
    stream: &mut TlsStream<TcpStream>,
    client_id: &str,
) -> Result<String, String> {
    let id = client_id.as_bytes();
    let id_len = u16::try_from(id.len()).map_err(|_| "client id too long".to_owned())?;
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c];
    body.extend_from_slice(&id_len.to_be_bytes());
    body.extend_from_slice(id);
    let mut packet = vec![0x10];
    let mut remaining = body.len();
    loop {
        let mut byte = (remaining % 128) as u8;
        remaining /= 128;
        if remaining > 0 {
            byte |= 0x80;
        }
        packet.push(byte);
        if remaining == 0 {
            break;
        }
    }
    packet.extend_from_slice(&body);
    stream
        .write_all(&packet)
        .await
        .map_err(|e| format!("sending CONNECT: {e}"))?;
    let mut connack = [0u8; 4];
    stream
        .read_exact(&mut connack)
        .await
        .map_err(|e| format!("no CONNACK: {e}"))?;
    if connack[0] != 0x20 || connack[1] != 0x02 {
        return Err(format!("not a CONNACK: {connack:02x?}"));
    }
    let _ = stream.write_all(&[0xe0, 0x00]).await;
    match connack[3] {
        0 => Ok("CONNACK accepted".to_owned()),
        code => Err(format!("CONNACK refused with return code {code}")),
    }
}
