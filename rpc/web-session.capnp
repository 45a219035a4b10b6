# HTTP over Cap'n Proto. Written from Sandstorm's published web-session.capnp: file ID, type
# names and method ordinals are Sandstorm's for everything they share.
#
# Our extension (fields with ordinals above Sandstorm's, so Sandstorm's encoding is unchanged):
# bodies larger than a small threshold, and every WebSocket stream, travel through pipes whose
# ends are passed as file descriptors attached to Util.Handle capabilities (Cap'n Proto's fd
# passing). Each side moves those bytes with splice(2); they never pass through an RPC message.
@0xa8cb0f2f1a756b32;

$import "/capnp/c++.capnp".namespace("ss::rpc");

using Util = import "util.capnp";
using Grain = import "grain.capnp";

interface WebSession @0xa50711a14d35a8ce extends(Grain.UiSession) {
  struct Params {
    basePath @0 :Text;             # e.g. "http://127.0.0.1:7001"; no trailing '/'
    userAgent @1 :Text;
    acceptableLanguages @2 :List(Text);
  }

  get @0 (path :Text, context :Context, ignoreBody :Bool) -> Response;
  post @1 (path :Text, content :PostContent, context :Context) -> Response;
  openWebSocket @2 (path :Text, context :Context, protocol :List(Text),
                    clientStream :WebSocketStream, upstream :Util.Handle,
                    downstream :Util.Handle)
                -> (protocol :List(Text), serverStream :WebSocketStream);
  # Ours: `upstream` carries the read end of a pipe with the client's WebSocket bytes (frames,
  # unparsed) and `downstream` the write end of a pipe for the app's; clientStream and
  # serverStream are unused (null).
  put @3 (path :Text, content :PutContent, context :Context) -> Response;
  delete @4 (path :Text, context :Context) -> Response;
  patch @17 (path :Text, content :PostContent, context :Context) -> Response;
  options @16 (path :Text, context :Context) -> Options;

  postStreaming @5 (path :Text, mimeType :Text, context :Context, encoding :Text)
                -> (stream :AnyPointer);
  putStreaming @6 (path :Text, mimeType :Text, context :Context, encoding :Text)
               -> (stream :AnyPointer);
  # Sandstorm's streaming uploads; ours stream through Context.requestBody instead. The bridge
  # answers these two with "unimplemented", which Sandstorm callers already handle.

  propfind @7 (path :Text, xmlContent :Text, depth :UInt8, context :Context) -> Response;
  proppatch @8 (path :Text, xmlContent :Text, context :Context) -> Response;
  mkcol @9 (path :Text, content :PostContent, context :Context) -> Response;
  copy @10 (path :Text, destination :Text, noOverwrite :Bool, shallow :Bool,
            context :Context) -> Response;
  move @11 (path :Text, destination :Text, noOverwrite :Bool, context :Context) -> Response;
  lock @12 (path :Text, xmlContent :Text, shallow :Bool, context :Context) -> Response;
  unlock @13 (path :Text, lockToken :Text, context :Context) -> Response;
  acl @14 (path :Text, xmlContent :Text, context :Context) -> Response;
  report @15 (path :Text, content :PostContent, context :Context) -> Response;
  # WebDAV, in Sandstorm's shape; our bridge relays all of them through `request` semantics.

  request @18 (method :Text, path :Text, content :PostContent, context :Context) -> Response;
  # Ours: any other method (PROPFIND, MKCOL, ...), relayed by name.

  struct Context {
    cookies @0 :List(Util.KeyValue);
    responseStream @1 :AnyPointer;  # Sandstorm's ByteStream; ours use Response body.pipe
    accept @2 :List(AcceptedType);
    acceptEncoding @9 :List(AcceptedEncoding);
    additionalHeaders @3 :List(Header);
    eTagPrecondition :union {
      none @4 :Void;
      exists @5 :Void;
      matchesOneOf @6 :List(ETag);
      matchesNoneOf @7 :List(ETag);
      doesntExist @8 :Void;
    }

    # Ours:
    requestBody @10 :Util.Handle;
    # Read end of a pipe holding the request body when it is too big to inline (null otherwise).
    requestBodyLength @11 :Int64 = -1;
    # Bytes that will arrive through requestBody; -1 = until the pipe closes.
    method @12 :Text;
    # The client's method as sent (GET, HEAD, ...), for completeness in logs and `request`.
    rawHeaders @13 :List(Header);
    # Every end-to-end request header (hop-by-hop and platform headers removed), names
    # lowercased, in order: the bridge replays these, so apps see what the browser sent.
  }

  struct Header {
    name @0 :Text;
    value @1 :Text;
  }

  struct AcceptedType {
    mimeType @0 :Text;
    qValue @1 :Float32 = 1.0;
  }

  struct AcceptedEncoding {
    contentCoding @0 :Text;
    qValue @1 :Float32 = 1.0;
  }

  struct ETag {
    value @0 :Text;
    weak @1 :Bool;
  }

  struct PostContent {
    mimeType @0 :Text;
    content @1 :Data;
    encoding @2 :Text;
  }

  struct PutContent {
    mimeType @0 :Text;
    content @1 :Data;
    encoding @2 :Text;
  }

  struct Cookie {
    name @0 :Text;
    value @1 :Text;
  }

  struct Response {
    setCookies @0 :List(Cookie);
    cachePolicy @16 :AnyPointer;
    additionalHeaders @20 :List(Header);

    union {
      content :group {
        statusCode @10 :UInt16 = 200;
        # Ours: the app's status as a number (Sandstorm uses a SuccessCode enum here).
        encoding @2 :Text;
        language @3 :Text;
        mimeType @4 :Text;
        eTag @17 :ETag;
        body :union {
          bytes @5 :Data;
          stream @6 :Util.Handle;
          pipe @23 :Util.Handle;
          # Ours: the read end of a pipe that carries the body.
        }
        disposition :union {
          normal @13 :Void;
          download @14 :Text;  # filename
        }
        bodyLength @24 :Int64 = -1;
        # Ours: length of the piped body if known (Content-Length), else -1.
      }
      noContent :group {
        shouldResetForm @15 :Bool;
        eTag @19 :ETag;
      }
      preconditionFailed :group {
        matchingETag @18 :ETag;
      }
      redirect :group {
        isPermanent @1 :Bool;
        switchToGet @12 :Bool;
        location @11 :Text;
      }
      clientError :group {
        statusCode @7 :UInt16;
        descriptionHtml @8 :Text;
        nonHtmlBody @21 :Text;
      }
      serverError :group {
        descriptionHtml @9 :Text;
        nonHtmlBody @22 :Text;
      }
    }

    rawStatus @25 :UInt16;
    # Ours: the exact status the app answered (the union above keeps Sandstorm's categories;
    # the platform relays rawStatus so a 302 stays a 302 and a 503 stays a 503).
    rawHeaders @26 :List(Header);
    # Ours: every end-to-end response header the app sent (hop-by-hop removed), in order.
  }

  struct Options {
    davClass1 @0 :Bool;
    davClass2 @1 :Bool;
    davClass3 @2 :Bool;
    davExtensions @3 :List(Text);
  }
}

interface WebSocketStream {
  sendBytes @0 (message :Data) -> stream;
}
