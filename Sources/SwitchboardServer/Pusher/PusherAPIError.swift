import HTTPTypes
import Hummingbird
import SwitchboardCore

/// An error answer of the Pusher HTTP API (`/apps/{id}/…`): a status and `{"error":"…"}`, the
/// shape Pusher's server libraries read. It renders itself, as Hummingbird's `HTTPError` does.
struct PusherAPIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var message: String

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response
    }

    /// The answer, ready to send.
    var response: Response {
        HTTPRoutes.json(status, "{\"error\":\(JSONText.quoted(message))}")
    }
}
