//! CAP 1.2 XML into an [`Alert`]: elements of the CAP 1.2 namespace, by name, in any order.

use roxmltree::{Document, Node};

use crate::alert::{Alert, Area, Info, NamedValue};

/// The namespace every CAP 1.2 element is in.
pub const CAP_1_2_NAMESPACE: &str = "urn:oasis:names:tc:emergency:cap:1.2";
/// The largest document the parser accepts, in bytes: a CAP message with a dozen areas of
/// detailed polygons stays well below it.
pub const DOCUMENT_BYTES_MAX: usize = 512 * 1024;

fn children<'a, 'input>(
    node: Node<'a, 'input>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(move |child| {
        child.is_element()
            && child.tag_name().name() == name
            && child.tag_name().namespace() == Some(CAP_1_2_NAMESPACE)
    })
}

fn text_of(node: Node<'_, '_>, name: &'static str) -> Option<String> {
    children(node, name)
        .next()
        .map(|child| child.text().unwrap_or_default().trim().to_string())
}

fn texts_of(node: Node<'_, '_>, name: &'static str) -> Vec<String> {
    children(node, name)
        .map(|child| child.text().unwrap_or_default().trim().to_string())
        .collect()
}

fn named_values(node: Node<'_, '_>, name: &'static str) -> Vec<NamedValue> {
    children(node, name)
        .map(|pair| NamedValue {
            value_name: text_of(pair, "valueName").unwrap_or_default(),
            value: text_of(pair, "value").unwrap_or_default(),
        })
        .collect()
}

/// Parses a CAP 1.2 XML document; the error says why it is not one.
pub fn parse_xml(text: &str) -> Result<Alert, String> {
    if text.len() > DOCUMENT_BYTES_MAX {
        return Err(format!(
            "the document has {} bytes, more than the {DOCUMENT_BYTES_MAX} accepted",
            text.len()
        ));
    }
    let document =
        Document::parse(text).map_err(|error| format!("not well-formed XML: {error}"))?;
    let root = document.root_element();
    if root.tag_name().name() != "alert" || root.tag_name().namespace() != Some(CAP_1_2_NAMESPACE) {
        return Err(format!(
            "the root element is not a CAP 1.2 <alert> (namespace {CAP_1_2_NAMESPACE})"
        ));
    }
    let text = |name| text_of(root, name).unwrap_or_default();
    Ok(Alert {
        identifier: text("identifier"),
        sender: text("sender"),
        sent: text("sent"),
        status: text("status"),
        msg_type: text("msgType"),
        source: text_of(root, "source"),
        scope: text("scope"),
        restriction: text_of(root, "restriction"),
        addresses: text_of(root, "addresses"),
        note: text_of(root, "note"),
        references: text_of(root, "references"),
        incidents: text_of(root, "incidents"),
        info: children(root, "info").map(info).collect(),
    })
}

fn info(node: Node<'_, '_>) -> Info {
    Info {
        language: text_of(node, "language"),
        category: texts_of(node, "category"),
        event: text_of(node, "event").unwrap_or_default(),
        response_type: texts_of(node, "responseType"),
        urgency: text_of(node, "urgency").unwrap_or_default(),
        severity: text_of(node, "severity").unwrap_or_default(),
        certainty: text_of(node, "certainty").unwrap_or_default(),
        effective: text_of(node, "effective"),
        onset: text_of(node, "onset"),
        expires: text_of(node, "expires"),
        sender_name: text_of(node, "senderName"),
        headline: text_of(node, "headline"),
        description: text_of(node, "description"),
        instruction: text_of(node, "instruction"),
        web: text_of(node, "web"),
        parameter: named_values(node, "parameter"),
        area: children(node, "area")
            .map(|area| Area {
                area_desc: text_of(area, "areaDesc").unwrap_or_default(),
                polygon: texts_of(area, "polygon"),
                circle: texts_of(area, "circle"),
                geocode: named_values(area, "geocode"),
            })
            .collect(),
    }
}
