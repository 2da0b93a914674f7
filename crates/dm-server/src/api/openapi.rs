//! The OpenAPI 3 document served at `GET /api/v1/openapi.json`, written by hand.
//!
//! A test walks the router's routes and checks that each one is described here.

use serde_json::{Value, json};

/// Every REST route as `(method, OpenAPI path)`; the router and the document both follow it.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/devices"),
    ("get", "/api/v1/devices"),
    ("get", "/api/v1/devices/{id}"),
    ("patch", "/api/v1/devices/{id}"),
    ("delete", "/api/v1/devices/{id}"),
    ("get", "/api/v1/devices/{id}/tree"),
    ("get", "/api/v1/devices/{id}/events"),
    ("post", "/api/v1/devices/{id}/notify"),
    ("post", "/api/v1/jobs"),
    ("get", "/api/v1/jobs"),
    ("get", "/api/v1/jobs/{id}"),
    ("post", "/api/v1/jobs/{id}/cancel"),
    ("get", "/api/v1/events"),
];

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn body(name: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": reference(name) } } })
}

fn ok(desc: &str, name: &str) -> Value {
    json!({ "description": desc, "content": { "application/json": { "schema": reference(name) } } })
}

fn err(desc: &str) -> Value {
    ok(desc, "Error")
}

fn path_param(desc: &str, schema_type: &str) -> Value {
    json!({ "name": "id", "in": "path", "required": true, "description": desc,
            "schema": { "type": schema_type } })
}

fn query(name: &str, schema_type: &str, desc: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": desc,
            "schema": { "type": schema_type } })
}

fn limit() -> Value {
    query(
        "limit",
        "integer",
        "Page size (default 100, at most 10000).",
    )
}

fn nullable(schema_type: &str) -> Value {
    json!({ "type": [schema_type, "null"] })
}

fn auth_type() -> Value {
    json!({ "type": "string", "enum": ["basic", "md5", "hmac", "none"] })
}

fn schemas() -> Value {
    let item = json!({ "type": "object", "required": ["path"], "properties": {
        "path": { "type": "string", "description": "Node URI (for copy: the source)." },
        "value": { "type": "string", "description": "Value text (Base64 text with format b64)." },
        "format": { "type": "string", "description": "Meta/Format: chr, int, bool, b64, node, ..." },
        "type": { "type": "string", "description": "Meta/Type." },
        "target": { "type": "string", "description": "copy: the destination URI." }
    } });
    let data = json!({ "oneOf": [ { "type": "string" },
        { "type": "object", "required": ["b64"], "properties": { "b64": { "type": "string" } } } ],
        "description": "A string when the bytes are UTF-8, else {\"b64\": ...}." });
    json!({
        "Error": { "type": "object", "required": ["error"],
                   "properties": { "error": { "type": "string" } } },
        "NewDevice": { "type": "object", "required": ["device_id", "auth_secret"],
            "properties": {
                "device_id": { "type": "string" },
                "auth_type": auth_type(),
                "auth_name": { "type": "string" },
                "auth_secret": { "type": "string", "writeOnly": true },
                "server_auth_type": auth_type(),
                "server_secret": { "type": "string", "writeOnly": true },
                "notify": { "type": "string", "description": "udp:HOST[:PORT] or http(s)://..." }
            } },
        "DeviceUpdate": { "type": "object",
            "description": "Absent fields are kept. A new auth_name needs auth_secret too.",
            "properties": {
                "auth_type": auth_type(),
                "auth_name": { "type": "string" },
                "auth_secret": { "type": "string", "writeOnly": true },
                "server_auth_type": auth_type(),
                "server_secret": { "type": "string", "writeOnly": true },
                "notify": { "type": "array", "items": { "type": "string" },
                            "description": "Replaces the notification addresses ([] removes them)." },
                "enabled": { "type": "boolean" }
            } },
        "Device": { "type": "object",
            "required": ["device_id", "auth_type", "auth_name", "server_auth_type", "created_at", "devinfo"],
            "properties": {
                "device_id": { "type": "string" },
                "auth_type": auth_type(),
                "auth_name": { "type": "string" },
                "server_auth_type": auth_type(),
                "notify": { "type": "array", "items": { "type": "string" } },
                "created_at": { "type": "integer", "description": "Unix milliseconds." },
                "last_contact_at": nullable("integer"),
                "last_address": nullable("string"),
                "devinfo": { "type": "object", "additionalProperties": { "type": "string" } }
            } },
        "DeviceList": { "type": "object", "required": ["devices", "next_after"],
            "properties": {
                "devices": { "type": "array", "items": reference("Device") },
                "next_after": nullable("string")
            } },
        "TreeValue": { "type": "object", "required": ["path", "data", "updated_at"],
            "properties": {
                "path": { "type": "string" }, "format": { "type": "string" },
                "type": { "type": "string" }, "data": data,
                "updated_at": { "type": "integer" }
            } },
        "TreeValues": { "type": "object", "required": ["values"],
            "properties": { "values": { "type": "array", "items": reference("TreeValue") } } },
        "JobItem": item,
        "JobCommand": { "type": "object", "required": ["kind"], "properties": {
            "kind": { "type": "string",
                      "enum": ["get", "replace", "add", "delete", "exec", "copy", "atomic", "sequence"] },
            "items": { "type": "array", "items": reference("JobItem") },
            "children": { "type": "array", "items": reference("JobCommand") }
        } },
        "NewJob": { "type": "object", "required": ["device_id", "commands"],
            "properties": {
                "device_id": { "type": "string" },
                "commands": { "type": "array", "minItems": 1, "items": reference("JobCommand") }
            } },
        "ResultItem": { "type": "object", "required": ["path", "data"],
            "properties": {
                "path": { "type": "string" }, "format": { "type": "string" },
                "type": { "type": "string" }, "data": data.clone()
            } },
        "CommandOutcome": { "type": "object", "required": ["index", "status", "items", "completed_at"],
            "properties": {
                "index": { "type": "integer", "description": "Pre-order index of the command." },
                "cmd_id": nullable("integer"), "status": { "type": "integer" },
                "items": { "type": "array", "items": reference("ResultItem") },
                "completed_at": { "type": "integer" },
                "error": { "type": "string", "description": "Why there is no status (status 0), e.g. \"no status from device\"." }
            } },
        "Job": { "type": "object",
            "required": ["id", "device_id", "state", "commands", "attempts", "results", "created_at", "updated_at"],
            "properties": {
                "id": { "type": "integer" },
                "device_id": { "type": "string" },
                "state": { "type": "string", "enum": ["queued", "sent", "done", "failed", "cancelled"] },
                "commands": { "type": "array", "items": reference("JobCommand") },
                "attempts": { "type": "integer" },
                "results": { "type": "array", "items": reference("CommandOutcome") },
                "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
                "completed_at": nullable("integer")
            } },
        "JobList": { "type": "object", "required": ["jobs", "next_after"],
            "properties": {
                "jobs": { "type": "array", "items": reference("Job") },
                "next_after": nullable("integer")
            } },
        "Event": { "type": "object", "required": ["id", "device_id", "at", "alert_code"],
            "properties": {
                "id": { "type": "integer" }, "device_id": { "type": "string" },
                "at": { "type": "integer" }, "alert_code": { "type": "integer" },
                "alert_type": nullable("string"), "format": nullable("string"),
                "mark": nullable("string"), "source": nullable("string"),
                "correlator": nullable("string"), "data": nullable("string")
            } },
        "EventList": { "type": "object", "required": ["events", "next_after"],
            "properties": { "events": { "type": "array", "items": reference("Event") },
                            "next_after": nullable("integer") } },
        "NotifyRequest": { "type": "object",
            "properties": { "ui_mode": { "type": "string",
                "enum": ["not-specified", "background", "informative", "user-interaction"] } } },
        "NotifyResponse": { "type": "object", "required": ["session_id", "address"],
            "properties": { "session_id": { "type": "string" }, "address": { "type": "string" } } }
    })
}

/// The OpenAPI 3.1 document of the REST API.
#[must_use]
pub fn document() -> Value {
    let unauthorized = err("Missing or wrong bearer token.");
    let not_found = err("No such device or job.");
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "dm-server operator API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Devices, jobs, events and notifications of an OMA DM 1.2 server. \
                            Every route needs `Authorization: Bearer TOKEN`."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas()
        },
        "security": [ { "bearer": [] } ],
        "paths": {
            "/api/v1/openapi.json": {
                "get": { "summary": "This document.", "responses": {
                    "200": { "description": "OpenAPI document.",
                             "content": { "application/json": {} } },
                    "401": unauthorized } }
            },
            "/api/v1/devices": {
                "post": { "summary": "Create a device account.", "requestBody": body("NewDevice"),
                    "responses": { "201": ok("Created.", "Device"), "400": err("Invalid body."),
                                   "401": unauthorized, "409": err("Device id or auth name taken.") } },
                "get": { "summary": "List devices.",
                    "parameters": [
                        query("prefix", "string", "Only device ids starting with this."),
                        query("manufacturer", "string", "Only devices whose DevInfo Man equals this."),
                        query("model", "string", "Only devices whose DevInfo Mod equals this."),
                        query("seen_since", "integer", "Only devices with a last contact at or after this time (ms)."),
                        query("after", "string", "next_after of the previous page."),
                        limit() ],
                    "responses": { "200": ok("A page of devices.", "DeviceList"), "401": unauthorized } }
            },
            "/api/v1/devices/{id}": {
                "get": { "summary": "One device with DevInfo and last contact.",
                    "parameters": [ path_param("Device id.", "string") ],
                    "responses": { "200": ok("The device.", "Device"), "401": unauthorized, "404": not_found } },
                "patch": { "summary": "Change a device account: secrets, auth types, notification addresses, enabled.",
                    "parameters": [ path_param("Device id.", "string") ], "requestBody": body("DeviceUpdate"),
                    "responses": { "200": ok("The updated device.", "Device"), "400": err("Invalid body."),
                                   "401": unauthorized, "404": not_found,
                                   "409": err("The new auth name belongs to another device.") } },
                "delete": { "summary": "Delete a device with its jobs, values and events.",
                    "parameters": [ path_param("Device id.", "string") ],
                    "responses": { "204": { "description": "Deleted." }, "401": unauthorized, "404": not_found } }
            },
            "/api/v1/devices/{id}/tree": {
                "get": { "summary": "Last known tree values of a device.",
                    "parameters": [ path_param("Device id.", "string"),
                                    query("prefix", "string", "Only node URIs starting with this.") ],
                    "responses": { "200": ok("Values.", "TreeValues"), "401": unauthorized, "404": not_found } }
            },
            "/api/v1/devices/{id}/events": {
                "get": { "summary": "Events of one device.",
                    "parameters": [ path_param("Device id.", "string"),
                                    query("alert_code", "integer", "Only this alert code."),
                                    query("alert_type", "string", "Only this alert type."),
                                    query("since", "integer", "Only events at or after this time (ms)."),
                                    query("after", "integer", "next_after of the previous page."),
                                    limit() ],
                    "responses": { "200": ok("Events.", "EventList"), "401": unauthorized, "404": not_found } }
            },
            "/api/v1/devices/{id}/notify": {
                "post": { "summary": "Send a Package 0 to the device's notification address.",
                    "parameters": [ path_param("Device id.", "string") ],
                    "requestBody": { "required": false, "content": { "application/json": {
                        "schema": reference("NotifyRequest") } } },
                    "responses": { "202": ok("Sent.", "NotifyResponse"), "401": unauthorized,
                                   "404": not_found, "409": err("The device has no notification address."),
                                   "502": err("Delivery failed.") } }
            },
            "/api/v1/jobs": {
                "post": { "summary": "Queue commands for a device's next session.",
                    "requestBody": body("NewJob"),
                    "responses": { "201": ok("Queued.", "Job"), "400": err("Invalid commands."),
                                   "401": unauthorized, "404": not_found } },
                "get": { "summary": "List jobs, newest first.",
                    "parameters": [ query("device_id", "string", "Only this device's jobs."),
                                    query("state", "string", "Only jobs in this state."),
                                    query("after", "integer", "next_after of the previous page."),
                                    limit() ],
                    "responses": { "200": ok("A page of jobs.", "JobList"), "401": unauthorized } }
            },
            "/api/v1/jobs/{id}": {
                "get": { "summary": "One job with per-command status and results.",
                    "parameters": [ path_param("Job id.", "integer") ],
                    "responses": { "200": ok("The job.", "Job"), "401": unauthorized, "404": not_found } }
            },
            "/api/v1/jobs/{id}/cancel": {
                "post": { "summary": "Cancel a job that has not been answered yet.",
                    "parameters": [ path_param("Job id.", "integer") ],
                    "responses": { "200": ok("Cancelled.", "Job"), "401": unauthorized, "404": not_found,
                                   "409": err("Already answered or cancelled.") } }
            },
            "/api/v1/events": {
                "get": { "summary": "Events (Generic Alerts and other client alerts), oldest first.",
                    "parameters": [ query("device_id", "string", "Only this device's events."),
                                    query("alert_code", "integer", "Only this alert code."),
                                    query("alert_type", "string", "Only this alert type."),
                                    query("since", "integer", "Only events at or after this time (ms)."),
                                    query("after", "integer", "next_after of the previous page."),
                                    limit() ],
                    "responses": { "200": ok("Events.", "EventList"), "401": unauthorized } }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = 0;
        for (path, ops) in paths {
            for method in ops.as_object().unwrap().keys() {
                assert!(
                    ROUTES.contains(&(method.as_str(), path.as_str())),
                    "{method} {path} documented but not routed"
                );
                documented += 1;
            }
        }
        assert_eq!(documented, ROUTES.len());
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name: String = piece.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "dangling $ref {name}");
        }
    }
}
