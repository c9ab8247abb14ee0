// Package httpsink is an HTTP sink connector: it sends the values of the records it is given
// to an HTTP endpoint in batches, retrying failed requests with back-off. It is registered as
// io.confluent.connect.http.HttpSinkConnector (Confluent's HTTP sink, whose property names it
// takes) and the aliases http-sink and HttpSink.
//
// # Properties
//
//	http.api.url               the endpoint (http or https; required; ${topic}/${key} are not substituted)
//	request.method             POST (default), PUT or PATCH
//	headers                    extra request headers, Name:Value pairs separated by header.separator ("|")
//	request.body.format        json (default) or string
//	batch.json.as.array        true (default): the batch is one JSON array of the values;
//	                           false: batch.prefix + values joined by batch.separator (",") + batch.suffix
//	batch.max.size             records per request (default 100)
//	max.retries                retries of a failed request (default 10)
//	retry.backoff.ms           wait before the first retry (default 3000)
//	retry.backoff.policy       EXPONENTIAL_WITH_JITTER (default: the wait doubles per retry, capped
//	                           at 60 s, drawn from its upper half) or CONSTANT_VALUE
//	retry.on.status.codes      the statuses retried: codes and ranges, "408,429,500-" by default
//	behavior.on.error          after a status not retried or the last retry: fail (default: the task
//	                           fails), log (log the batch and go on) or ignore
//	behavior.on.null.values    tombstones (no value): ignore (default) or fail
//	auth.type                  NONE (default) or BASIC with connection.user / connection.password
//	http.connect.timeout.ms    dialing timeout (default 30000)
//	http.request.timeout.ms    timeout of one request, response included (default 30000)
//
// Defaults that differ from Confluent's, on purpose: Confluent sends each record's value as a
// string, one request per record (request.body.format=string, batch.json.as.array=false,
// batch.max.size=1) and retries every status from 400 on (retry.on.status.codes=400-); set
// those to get its behaviour. Here a batch is a JSON array by default, and a 4xx other than 408
// (timeout) and 429 (too many requests) is the request's fault: retrying it cannot help, so it
// goes straight to behavior.on.error. Connection errors and timeouts are always retried.
//
// # Rendering
//
// request.body.format=json renders each value with Kafka Connect's JsonConverter, schemas off
// (a Struct becomes an object, a Decimal a number, bytes base64); a string value that is
// itself valid JSON (records written with StringConverter) goes in as it is. string renders
// strings and bytes as they are and anything else as JSON.
//
// # Delivery
//
// Put appends the rendered values to a buffer and sends every full batch; Flush sends the
// rest. A request counts as delivered on a 2xx answer only. Put and Flush return only after
// every record they were given or hold was delivered (or, with behavior.on.error=log/ignore,
// given up on); the runtime commits a partition's offset only after Flush returns nil, so
// nothing is committed before the endpoint accepted it, and a task that fails or dies has its
// undelivered records sent again by the next one (at least once: an endpoint sees a batch
// twice if the task dies between the 2xx and the commit). A task being stopped gives up
// waiting between retries and returns an error, so its last records are not committed.
package httpsink
