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
    ("get", "/api/v1/devices/{id}/links"),
    ("get", "/api/v1/gateways"),
    ("get", "/api/v1/gateways/{id}"),
    ("get", "/api/v1/gateways/{id}/devices"),
    ("post", "/api/v1/gateways/{id}/groups"),
    ("get", "/api/v1/gateways/{id}/groups"),
    ("get", "/api/v1/gateways/{id}/groups/{name}"),
    ("patch", "/api/v1/gateways/{id}/groups/{name}"),
    ("delete", "/api/v1/gateways/{id}/groups/{name}"),
    ("post", "/api/v1/gateways/{id}/fanouts"),
    ("get", "/api/v1/gateways/{id}/fanouts"),
    ("get", "/api/v1/fanouts/{id}"),
    ("post", "/api/v1/fanouts/{id}/cancel"),
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

fn kind() -> Value {
    json!({ "type": "string", "enum": ["device", "gateway"] })
}

/// The schemas of gateways and links (seed 001 X.3).
fn gateway_schemas() -> Value {
    json!({
        "Link": { "type": "object",
            "required": ["gateway_id", "mode", "attached", "since", "until", "addresses", "updated_at"],
            "description": "A device behind a gateway in a mode, for a span of time (until null: current).",
            "properties": {
                "gateway_id": { "type": "string" },
                "mode": { "type": "string", "enum": ["proxy", "transparent", "adaptation"] },
                "attached": { "type": "boolean" },
                "since": { "type": "integer" }, "until": nullable("integer"),
                "addresses": { "type": "array", "items": { "type": "string" },
                               "description": "Where the gateway reaches the device (udp:HOST:PORT, http://...)." },
                "updated_at": { "type": "integer" }
            } },
        "LinkList": { "type": "object", "required": ["links", "next_after"],
            "properties": { "links": { "type": "array", "items": reference("Link") },
                            "next_after": nullable("integer") } },
        "GatewayCounts": { "type": "object",
            "required": ["total", "attached", "detached", "proxy", "transparent", "adaptation", "gateways"],
            "properties": {
                "total": { "type": "integer" }, "attached": { "type": "integer" },
                "detached": { "type": "integer" }, "proxy": { "type": "integer" },
                "transparent": { "type": "integer" }, "adaptation": { "type": "integer" },
                "gateways": { "type": "integer", "description": "Child gateways." }
            } },
        "Gateway": { "allOf": [ reference("Device"), { "type": "object", "required": ["behind"],
            "properties": { "behind": reference("GatewayCounts") } } ] },
        "GatewayList": { "type": "object", "required": ["gateways", "next_after"],
            "properties": { "gateways": { "type": "array", "items": reference("Gateway") },
                            "next_after": nullable("string") } }
    })
}

/// The paths of gateways and links.
fn gateway_paths(unauthorized: &Value, not_found: &Value) -> Value {
    json!({
        "/api/v1/devices/{id}/links": {
            "get": { "summary": "The device's gateway links, oldest first (its history).",
                "parameters": [ path_param("Device id.", "string"),
                                query("after", "integer", "next_after of the previous page."),
                                limit() ],
                "responses": { "200": ok("Links.", "LinkList"), "401": unauthorized, "404": not_found } }
        },
        "/api/v1/gateways": {
            "get": { "summary": "Gateways, with counts of the devices behind each.",
                "parameters": [ query("after", "string", "next_after of the previous page."), limit() ],
                "responses": { "200": ok("A page of gateways.", "GatewayList"), "401": unauthorized } }
        },
        "/api/v1/gateways/{id}": {
            "get": { "summary": "One gateway with counts of the devices behind it.",
                "parameters": [ path_param("Gateway (device) id.", "string") ],
                "responses": { "200": ok("The gateway.", "Gateway"), "401": unauthorized,
                               "404": err("No such device, or not a gateway.") } }
        },
        "/api/v1/gateways/{id}/devices": {
            "get": { "summary": "The devices currently behind the gateway.",
                "parameters": [ path_param("Gateway (device) id.", "string"),
                                query("after", "string", "next_after of the previous page."), limit() ],
                "responses": { "200": ok("A page of devices.", "DeviceList"), "401": unauthorized,
                               "404": not_found } }
        }
    })
}

/// The schemas of groups and fanouts (docs/gateway.md §8, §9).
fn fanout_schemas() -> Value {
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    let matching = json!({ "type": "object", "additionalProperties": strings,
        "description": "Key (man, mod, mode, protocol, kind, status, id_prefix) -> accepted values; keys must all hold, one value of a key suffices; {} matches every device." });
    let counts = json!({ "type": "object", "additionalProperties": { "type": "integer" } });
    json!({
        "NewGroup": { "type": "object", "required": ["name"], "properties": {
            "name": { "type": "string", "description": "1..=64 letters, digits, '.', '_', '-'." },
            "members": strings, "match": matching } },
        "GroupChange": { "type": "object", "properties": {
            "add": strings, "remove": strings, "match": matching,
            "clear_match": { "type": "boolean" } } },
        "Group": { "type": "object",
            "required": ["gateway_id", "name", "members", "match", "job_id", "job_state", "updated_at"],
            "properties": {
                "gateway_id": { "type": "string" }, "name": { "type": "string" },
                "members": strings,
                "match": { "oneOf": [ matching, { "type": "null" } ] },
                "job_id": nullable("integer"),
                "job_state": nullable("string"),
                "updated_at": { "type": "integer" } } },
        "GroupList": { "type": "object", "required": ["groups"],
            "properties": { "groups": { "type": "array", "items": reference("Group") } } },
        "NewFanout": { "type": "object", "required": ["commands"], "properties": {
            "group": { "type": "string" }, "targets": strings,
            "commands": { "type": "array", "items": reference("JobCommand") },
            "timeout_secs": { "type": "integer" }, "window": { "type": "integer" },
            "attempt_secs": { "type": "integer" }, "max_attempts": { "type": "integer" } } },
        "FanoutResult": { "type": "object",
            "required": ["targets", "answered", "timed_out", "failed", "unknown", "cancelled",
                         "commands", "exceptions", "exceptions_omitted"],
            "properties": {
                "targets": { "type": "integer" }, "answered": { "type": "integer" },
                "timed_out": { "type": "integer" }, "failed": { "type": "integer" },
                "unknown": { "type": "integer" }, "cancelled": { "type": "integer" },
                "commands": { "type": "array", "items": { "type": "object", "properties": {
                    "cmd_id": { "type": "string" }, "kind": nullable("string"),
                    "path": nullable("string"), "statuses": counts,
                    "values": { "type": "array", "items": { "type": "object", "properties": {
                        "value": { "type": "string" }, "count": { "type": "integer" } } } },
                    "other_values": { "type": "integer" } } } },
                "exceptions": { "type": "array", "items": { "type": "object", "properties": {
                    "device_id": { "type": "string" }, "outcome": { "type": "string" },
                    "codes": counts } } },
                "exceptions_omitted": { "type": "integer" } } },
        "Fanout": { "type": "object",
            "required": ["id", "gateway_id", "operation", "state", "progress", "commands", "created_at"],
            "properties": {
                "id": { "type": "integer" }, "gateway_id": { "type": "string" },
                "operation": { "type": "string", "description": "./GwMO/Fanout/Operations/<operation> on the gateway." },
                "state": { "type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"] },
                "job_id": nullable("integer"), "group": nullable("string"), "targets": strings,
                "commands": { "type": "array", "items": reference("JobCommand") },
                "progress": { "type": "object", "properties": {
                    "total": { "type": "integer" }, "finished": { "type": "integer" } } },
                "result": { "oneOf": [ reference("FanoutResult"), { "type": "null" } ],
                            "description": "Partial while running, final once done." },
                "transparent": strings, "error": nullable("string"),
                "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
                "completed_at": nullable("integer") } },
        "FanoutList": { "type": "object", "required": ["fanouts", "next_after"],
            "properties": { "fanouts": { "type": "array", "items": reference("Fanout") },
                            "next_after": nullable("integer") } }
    })
}

/// The paths of groups and fanouts.
fn fanout_paths(unauthorized: &Value, not_found: &Value) -> Value {
    let gw = path_param("Gateway (device) id.", "string");
    let name = json!({ "name": "name", "in": "path", "required": true,
                       "description": "Group name.", "schema": { "type": "string" } });
    let fanout = path_param("Fanout id.", "integer");
    json!({
        "/api/v1/gateways/{id}/groups": {
            "post": { "summary": "Define a group on the gateway (pushed to it as a job).",
                "parameters": [ gw ], "requestBody": body("NewGroup"),
                "responses": { "201": ok("Created.", "Group"), "400": err("Invalid body."),
                               "401": unauthorized, "404": not_found,
                               "409": err("Not a gateway, or the group exists.") } },
            "get": { "summary": "The gateway's groups as the server defined them.",
                "parameters": [ gw ],
                "responses": { "200": ok("Groups.", "GroupList"), "401": unauthorized, "404": not_found } }
        },
        "/api/v1/gateways/{id}/groups/{name}": {
            "get": { "summary": "One group.", "parameters": [ gw, name ],
                "responses": { "200": ok("The group.", "Group"), "401": unauthorized, "404": not_found } },
            "patch": { "summary": "Add or remove members, change the match.",
                "parameters": [ gw, name ], "requestBody": body("GroupChange"),
                "responses": { "200": ok("The group.", "Group"), "400": err("Invalid body."),
                               "401": unauthorized, "404": not_found } },
            "delete": { "summary": "Delete the group (not its devices).", "parameters": [ gw, name ],
                "responses": { "204": { "description": "Deleted." }, "401": unauthorized, "404": not_found } }
        },
        "/api/v1/gateways/{id}/fanouts": {
            "post": { "summary": "Fan DM commands out to a group or targets behind the gateway.",
                "parameters": [ gw ], "requestBody": body("NewFanout"),
                "responses": { "201": ok("Queued.", "Fanout"), "400": err("Invalid body."),
                               "401": unauthorized, "404": not_found, "409": err("Not a gateway.") } },
            "get": { "summary": "The gateway's fanouts.",
                "parameters": [ gw, query("after", "integer", "next_after of the previous page."), limit() ],
                "responses": { "200": ok("A page of fanouts.", "FanoutList"), "401": unauthorized, "404": not_found } }
        },
        "/api/v1/fanouts/{id}": {
            "get": { "summary": "One fanout: state, progress, consolidated response.",
                "parameters": [ fanout ],
                "responses": { "200": ok("The fanout.", "Fanout"), "401": unauthorized, "404": not_found } }
        },
        "/api/v1/fanouts/{id}/cancel": {
            "post": { "summary": "Cancel a fanout.", "parameters": [ fanout ],
                "responses": { "202": ok("Cancelling.", "Fanout"), "401": unauthorized, "404": not_found,
                               "409": err("It has ended.") } }
        }
    })
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
                "notify": { "type": "string", "description": "udp:HOST[:PORT] or http(s)://..." },
                "kind": kind()
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
                "enabled": { "type": "boolean" },
                "kind": kind()
            } },
        "Device": { "type": "object",
            "required": ["device_id", "kind", "registry_only", "link", "auth_type", "auth_name",
                         "server_auth_type", "created_at", "devinfo"],
            "description": "registry_only: known from a gateway's report only (no credentials, auth_type none, auth_name empty); reached through its gateway.",
            "properties": {
                "device_id": { "type": "string" },
                "kind": kind(),
                "registry_only": { "type": "boolean" },
                "link": { "oneOf": [ reference("Link"), { "type": "null" } ],
                          "description": "Current gateway link; null: reached directly." },
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
                "error": { "type": "string", "description": "Why there is no status of the device: \"no status from device\" (status 0), or the refusal of a Proxy-mode job's operation by its gateway (status: the gateway's code)." }
            } },
        "Job": { "type": "object",
            "required": ["id", "device_id", "state", "commands", "attempts", "results", "created_at", "updated_at"],
            "properties": {
                "id": { "type": "integer" },
                "device_id": { "type": "string" },
                "state": { "type": "string", "enum": ["queued", "sent", "done", "failed", "cancelled"] },
                "commands": { "type": "array", "items": reference("JobCommand") },
                "attempts": { "type": "integer" },
                "via_gateway": nullable("string"),
                "awaiting_since": nullable("integer"),
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
        "NotifyResponse": { "type": "object", "required": ["session_id", "address", "route", "gateway"],
            "properties": { "session_id": { "type": "string" }, "address": { "type": "string" },
                            "route": { "type": "string",
                                       "enum": ["direct", "proxy", "transparent", "transparent-direct"] },
                            "gateway": nullable("string") } }
    })
}

/// The OpenAPI 3.1 document of the REST API.
#[must_use]
pub fn document() -> Value {
    let unauthorized = err("Missing or wrong bearer token.");
    let not_found = err("No such device or job.");
    let extra = merged(
        gateway_paths(&unauthorized, &not_found),
        fanout_paths(&unauthorized, &not_found),
    );
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "dm-server operator API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Devices, jobs, events and notifications of an OMA DM 1.2 server. \
                            Every route needs `Authorization: Bearer TOKEN`."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": merged(merged(schemas(), gateway_schemas()), fanout_schemas())
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
                        query("kind", "string", "Only devices of this kind: device or gateway."),
                        query("gateway", "string", "Only devices currently behind this gateway."),
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
                "post": { "summary": "Send a Package 0 by the device's route: to it, to its gateway (proxy), or through its gateway's relay (transparent); by a long-poll when one is open.",
                    "parameters": [ path_param("Device id.", "string") ],
                    "requestBody": { "required": false, "content": { "application/json": {
                        "schema": reference("NotifyRequest") } } },
                    "responses": { "202": ok("Sent.", "NotifyResponse"), "401": unauthorized,
                                   "404": not_found, "409": err("No way to reach the device (no address, no long-poll, no gateway account)."),
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
    });
    if let Some(paths) = doc.get_mut("paths") {
        let own = paths.take();
        *paths = merged(own, extra);
    }
    doc
}

/// The members of two JSON objects.
fn merged(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
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
