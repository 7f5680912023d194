//! MySQL: the client's HandshakeResponse41 or SSLRequest, and COM_CHANGE_USER's body.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirecache::fuzzing::mysql::handshake_response(data);
    let caps = data.get(..4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    wirecache::fuzzing::mysql::change_user(data.get(4..).unwrap_or_default(), caps);
});
