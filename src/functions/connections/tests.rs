use super::*;

#[test]
fn only_hypers_own_empty_answers_are_replaced() {
    let canned = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\n\
                   content-length: 0\r\ndate: Mon, 07 Dec 2026 12:00:00 GMT\r\n\r\n";
    let ours = String::from_utf8(own_answer(canned).unwrap()).unwrap();
    let (head, body) = ours.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert!(
        head.contains("\r\ndate: Mon, 07 Dec 2026 12:00:00 GMT"),
        "{head}"
    );
    assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())));
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["error"]["code"], "RequestHeadTooLarge");
    assert_eq!(body["status"], "failed");
    for other in [
        // Our own answers: a JSON body.
        &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\nmore",
        b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n",
        b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n",
        b"{\"status\":\"failed\"}",
    ] {
        assert_eq!(own_answer(other), None, "{}", String::from_utf8_lossy(other));
    }
}
