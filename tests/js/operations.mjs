// Every ssm-contacts operation of the AWS SDK for JavaScript v3 against an incident-contacts
// server, and what the SDK made of each answer: timestamps must come back as Date objects,
// numbers as numbers, nested lists and structures whole, errors as the SDK's modeled exception
// classes with their members as properties. Prints one JSON line for tests/clients/test_js_sdk.py.
//
// Usage: node operations.mjs <endpoint-url> [<throttled-endpoint-url> [<signed-endpoint-url>]]
// (credentials and region come from the usual AWS_* environment variables). The second server,
// when given, runs with a small throttle burst: the script reads its ThrottlingException. The
// third runs with --auth sigv4 and knows the key SIGNED_KEY_ID (secret SIGNED_SECRET, both from
// the environment), whose policy allows only Get*: the script reads its refusals.
//
// In the printed JSON a Date is {"$date": <epoch milliseconds>} and anything else that is not
// plain JSON data is {"$type": <constructor name>}, so the test sees what type the SDK built.
import * as sdk from "@aws-sdk/client-ssm-contacts";

const {
  SSMContactsClient,
  SSMContactsServiceException,
} = sdk;

const [endpoint, throttledEndpoint, signedEndpoint] = process.argv.slice(2);
if (!endpoint) throw new Error("usage: node operations.mjs <endpoint-url> [<throttled-url>]");
const client = new SSMContactsClient({ endpoint, maxAttempts: 1 });
const called = new Set();

/** The SDK's answer as JSON data that keeps the types the SDK gave it. */
function plain(value) {
  if (value instanceof Date) return { $date: value.getTime() };
  if (Array.isArray(value)) return value.map(plain);
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) return { $type: `number ${value}` };
    return value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) {
    return { $type: value.constructor?.name ?? "unknown" };
  }
  const out = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === "$metadata" || item === undefined) continue;
    out[key] = plain(item);
  }
  return out;
}

/** Send `Operation` with `input`; the answer without $metadata, which must say 200. */
async function call(operation, input) {
  const Command = sdk[`${operation}Command`];
  called.add(operation);
  const output = await client.send(new Command(input));
  if (output.$metadata.httpStatusCode !== 200 || !output.$metadata.requestId) {
    throw new Error(`${operation}: $metadata ${JSON.stringify(output.$metadata)}`);
  }
  return plain(output);
}

/** Every page of a paginated operation through the SDK's own paginator. */
async function paginate(operation, input, pageSize) {
  const paginator = sdk[`paginate${operation}`];
  if (typeof paginator !== "function") throw new Error(`no paginator for ${operation}`);
  called.add(operation);
  const pages = [];
  for await (const page of paginator({ client, pageSize }, { ...input })) {
    pages.push(plain(page));
  }
  return pages;
}

/** The error a call fails with, as the SDK built it. */
async function failure(operation, input, on = client) {
  const Command = sdk[`${operation}Command`];
  called.add(operation);
  try {
    await on.send(new Command(input));
  } catch (error) {
    return described(error);
  }
  throw new Error(`${operation} succeeded`);
}

function described(error) {
  const modeled = sdk[error.name];
  const members = {};
  for (const key of ["Reason", "Fields", "ResourceId", "ResourceType", "DependentEntities",
    "QuotaCode", "ServiceCode", "RetryAfterSeconds"]) {
    if (error[key] !== undefined) members[key] = plain(error[key]);
  }
  return {
    name: error.name,
    modeledClass: typeof modeled === "function" && error instanceof modeled,
    serviceException: error instanceof SSMContactsServiceException,
    message: error.message,
    fault: error.$fault,
    status: error.$metadata?.httpStatusCode,
    hasRequestId: Boolean(error.$metadata?.requestId),
    members,
  };
}

async function serverNow() {
  const response = await fetch(new URL("/_aws/ssm-contacts/clock", endpoint));
  if (!response.ok) throw new Error(`clock endpoint answered ${response.status}`);
  return (await response.json()).Now;
}

async function messages(channel) {
  const url = new URL("/_aws/ssm-contacts/messages", endpoint);
  url.searchParams.set("ContactChannelArn", channel);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`messages endpoint answered ${response.status}`);
  return (await response.json()).messages;
}

/** Poll (bounded) until `probe` returns something truthy. */
async function eventually(what, probe, seconds = 20) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const result = {};
const at = (iso) => new Date(iso);

// -- contacts and channels -----------------------------------------------------------------
const ana = (await call("CreateContact", {
  Alias: "jsop-ana", DisplayName: "Ana", Type: "PERSONAL", Plan: { Stages: [] },
  Tags: [{ Key: "team", Value: "sre" }],
})).ContactArn;
const ben = (await call("CreateContact", {
  Alias: "jsop-ben", Type: "PERSONAL", Plan: { Stages: [] },
})).ContactArn;
const sms = (await call("CreateContactChannel", {
  ContactId: ana, Name: "phone", Type: "SMS", DeliveryAddress: { SimpleAddress: "+15005550199" },
  DeferActivation: true,
})).ContactChannelArn;
result.sendActivationCode = await call("SendActivationCode", { ContactChannelId: sms });
const [{ ActivationCode: code }] = await messages(sms);
result.activate = await call("ActivateContactChannel", {
  ContactChannelId: sms, ActivationCode: code,
});
const mail = (await call("CreateContactChannel", {
  ContactId: ana, Name: "mail", Type: "EMAIL", DeliveryAddress: { SimpleAddress: "ana@example.com" },
  DeferActivation: true,
})).ContactChannelArn;
result.updateChannel = await call("UpdateContactChannel", {
  ContactChannelId: mail, Name: "work mail",
});
result.deactivate = await call("DeactivateContactChannel", { ContactChannelId: mail });
result.channel = await call("GetContactChannel", { ContactChannelId: mail });
result.channelPages = await paginate("ListContactChannels", { ContactId: ana }, 1);
result.deleteChannel = await call("DeleteContactChannel", { ContactChannelId: mail });

result.updateContact = await call("UpdateContact", {
  ContactId: ana, DisplayName: "Ana Lima",
  Plan: { Stages: [{ DurationInMinutes: 0, Targets: [
    { ChannelTargetInfo: { ContactChannelId: sms, RetryIntervalInMinutes: 2 } },
  ] }] },
});

// -- rotations, overrides, shifts -----------------------------------------------------------
const weekly = {
  NumberOfOnCalls: 1, RecurrenceMultiplier: 2,
  WeeklySettings: [
    { DayOfWeek: "MON", HandOffTime: { HourOfDay: 9, MinuteOfHour: 30 } },
    { DayOfWeek: "THU", HandOffTime: { HourOfDay: 17, MinuteOfHour: 0 } },
  ],
};
const rotation = (await call("CreateRotation", {
  Name: "jsop primary", ContactIds: [ana, ben], StartTime: at("2030-01-07T08:30:00Z"),
  TimeZoneId: "Europe/Berlin", Recurrence: weekly, Tags: [{ Key: "tier", Value: "1" }],
})).RotationArn;
const daily = (await call("CreateRotation", {
  Name: "jsop secondary", ContactIds: [ben], StartTime: at("2030-01-01T00:00:00Z"),
  TimeZoneId: "UTC",
  Recurrence: {
    NumberOfOnCalls: 1, RecurrenceMultiplier: 1,
    DailySettings: [{ HourOfDay: 8, MinuteOfHour: 0 }],
    ShiftCoverages: {
      MON: [{ Start: { HourOfDay: 1, MinuteOfHour: 0 }, End: { HourOfDay: 23, MinuteOfHour: 0 } }],
      WED: [{ Start: { HourOfDay: 1, MinuteOfHour: 0 }, End: { HourOfDay: 23, MinuteOfHour: 0 } }],
    },
  },
})).RotationArn;
result.updateRotation = await call("UpdateRotation", {
  RotationId: daily, StartTime: at("2030-01-02T00:00:00Z"), TimeZoneId: "Asia/Seoul",
  Recurrence: {
    NumberOfOnCalls: 1, RecurrenceMultiplier: 1,
    MonthlySettings: [{ DayOfMonth: 20, HandOffTime: { HourOfDay: 8, MinuteOfHour: 0 } }],
  },
});
const overrideId = (await call("CreateRotationOverride", {
  RotationId: rotation, NewContactIds: [ben], StartTime: at("2030-01-08T10:00:00Z"),
  EndTime: at("2030-01-08T16:00:00Z"),
})).RotationOverrideId;
const spare = (await call("CreateRotationOverride", {
  RotationId: rotation, NewContactIds: [], StartTime: at("2030-02-01T00:00:00Z"),
  EndTime: at("2030-02-01T12:00:00Z"),
})).RotationOverrideId;
result.deleteOverride = await call("DeleteRotationOverride", {
  RotationId: rotation, RotationOverrideId: spare,
});
result.previewPages = await paginate("ListPreviewRotationShifts", {
  RotationStartTime: at("2030-01-07T08:30:00Z"), StartTime: at("2030-01-07T00:00:00Z"),
  EndTime: at("2030-01-21T00:00:00Z"), Members: ["Ana", "Ben"], TimeZoneId: "Europe/Berlin",
  Recurrence: weekly,
  Overrides: [{ NewMembers: ["Ben"], StartTime: at("2030-01-08T10:00:00Z"),
    EndTime: at("2030-01-08T16:00:00Z") }],
}, 2);

// An on-call schedule and an escalation plan over it, the first paged through its person.
const schedule = (await call("CreateContact", {
  Alias: "jsop-oncall", DisplayName: "On call", Type: "ONCALL_SCHEDULE",
  Plan: { Stages: [], RotationIds: [rotation] },
})).ContactArn;
const escalation = (await call("CreateContact", {
  Alias: "jsop-escalation", Type: "ESCALATION",
  Plan: { Stages: [
    { DurationInMinutes: 5, Targets: [
      { ContactTargetInfo: { ContactId: ana, IsEssential: true } },
      { ContactTargetInfo: { ContactId: schedule, IsEssential: false } },
    ] },
    { DurationInMinutes: 10, Targets: [{ ContactTargetInfo: { ContactId: ben, IsEssential: false } }] },
  ] },
})).ContactArn;

// -- engagements and pages ------------------------------------------------------------------
const before = await serverNow();
const engagement = (await call("StartEngagement", {
  ContactId: ana, Sender: "js-sdk", Subject: "Database down", Content: "Primary is down",
  PublicSubject: "Alert", PublicContent: "Check the console", IncidentId: "jsop-incident-1",
})).EngagementArn;
const page = await eventually("the page", async () => {
  const { Pages } = await call("ListPagesByEngagement", { EngagementId: engagement });
  return Pages.length === 1 && Pages[0].SentTime ? Pages[0].PageArn : null;
});
const pageMessage = await eventually("the page message", async () =>
  (await messages(sms)).find((m) => m.PageArn === page));
result.acceptDelivered = await call("AcceptPage", {
  PageId: page, ContactChannelId: sms, AcceptType: "DELIVERED",
  AcceptCode: pageMessage.AcceptCode, AcceptCodeValidation: "ENFORCE",
});
result.acceptRead = await call("AcceptPage", {
  PageId: page, AcceptType: "READ", Note: "on it", AcceptCode: pageMessage.AcceptCode,
});
result.wrongCode = await failure("AcceptPage", {
  PageId: page, AcceptType: "READ", AcceptCode: "000000", AcceptCodeValidation: "ENFORCE",
});
const second = (await call("StartEngagement", {
  ContactId: escalation, Sender: "js-sdk", Subject: "Disk full", Content: "Volume at 100%",
})).EngagementArn;
// Its first stage pages Ana (nobody is on call in 2026): stopped once that page exists.
const escalated = await eventually("the escalation's page", async () => {
  const { Pages } = await call("ListPagesByEngagement", { EngagementId: second });
  return Pages.length === 1 ? Pages[0].PageArn : null;
});
result.stop = await call("StopEngagement", { EngagementId: second, Reason: "fixed" });
const after = await serverNow();

// -- policies and tags ----------------------------------------------------------------------
const policy = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Sid: "Share", Effect: "Allow", Principal: { AWS: "222233334444" },
    Action: ["ssm-contacts:GetContact"], Resource: [ana] }],
});
result.putPolicy = await call("PutContactPolicy", { ContactArn: ana, Policy: policy });
result.tag = await call("TagResource", {
  ResourceARN: rotation, Tags: [{ Key: "owner", Value: "ops" }, { Key: "tier", Value: "2" }],
});
result.untag = await call("UntagResource", { ResourceARN: ana, TagKeys: ["team", "absent"] });

// -- reads of the final state, which the test repeats with boto3 ---------------------------
// Whole seconds, as the SDK sends timestamps.
result.window = { StartTime: Math.floor(before) - 1, EndTime: Math.ceil(after) + 1 };
const engagementWindow = { TimeRangeValue: {
  StartTime: new Date(result.window.StartTime * 1000),
  EndTime: new Date(result.window.EndTime * 1000),
} };
result.reads = {
  GetContact: await call("GetContact", { ContactId: ana }),
  GetContactEscalation: await call("GetContact", { ContactId: escalation }),
  GetContactSchedule: await call("GetContact", { ContactId: schedule }),
  GetContactChannel: await call("GetContactChannel", { ContactChannelId: sms }),
  ListContacts: await paginate("ListContacts", { AliasPrefix: "jsop-" }, 2),
  GetRotation: await call("GetRotation", { RotationId: rotation }),
  GetRotationDaily: await call("GetRotation", { RotationId: daily }),
  ListRotations: await paginate("ListRotations", { RotationNamePrefix: "jsop" }, 1),
  GetRotationOverride: await call("GetRotationOverride", {
    RotationId: rotation, RotationOverrideId: overrideId,
  }),
  ListRotationOverrides: await paginate("ListRotationOverrides", {
    RotationId: rotation, StartTime: at("2030-01-01T00:00:00Z"), EndTime: at("2030-03-01T00:00:00Z"),
  }, 1),
  ListRotationShifts: await paginate("ListRotationShifts", {
    RotationId: rotation, StartTime: at("2030-01-07T00:00:00Z"), EndTime: at("2030-01-21T00:00:00Z"),
  }, 2),
  DescribeEngagement: await call("DescribeEngagement", { EngagementId: engagement }),
  DescribeEngagementStopped: await call("DescribeEngagement", { EngagementId: second }),
  ListEngagements: await paginate("ListEngagements", engagementWindow, 1),
  ListEngagementsByIncident: await paginate("ListEngagements", { IncidentId: "jsop-incident-1" }),
  DescribePage: await call("DescribePage", { PageId: page }),
  ListPagesByContact: await paginate("ListPagesByContact", { ContactId: ana }, 1),
  ListPagesByEngagement: await paginate("ListPagesByEngagement", { EngagementId: engagement }, 1),
  ListPageReceipts: await paginate("ListPageReceipts", { PageId: page }, 2),
  ListPageResolutions: await paginate("ListPageResolutions", { PageId: page }),
  ListPageResolutionsEscalated: await paginate("ListPageResolutions", { PageId: escalated }),
  GetContactPolicy: await call("GetContactPolicy", { ContactArn: ana }),
  ListTagsForResource: await call("ListTagsForResource", { ResourceARN: rotation }),
  ListTagsForContact: await call("ListTagsForResource", { ResourceARN: ana }),
};
result.ids = { ana, ben, sms, mail, rotation, daily, overrideId, schedule, escalation, engagement,
  second, page, escalated, policy };

// -- errors ---------------------------------------------------------------------------------
result.errors = {
  validation: await failure("CreateRotation", {
    Name: "jsop bad", ContactIds: [ana], TimeZoneId: "UTC",
    Recurrence: { NumberOfOnCalls: 0, RecurrenceMultiplier: 101,
      DailySettings: [{ HourOfDay: 24, MinuteOfHour: 0 }] },
  }),
  rotationNotFound: await failure("GetRotation", {
    RotationId: rotation.replace(/[0-9a-f-]{36}$/, "00000000-0000-4000-8000-000000000000"),
  }),
  pageNotFound: await failure("DescribePage", {
    PageId: page.replace(/[0-9a-f-]{36}$/, "00000000-0000-4000-8000-000000000000"),
  }),
  channelNotFound: await failure("GetContactChannel", { ContactChannelId: mail }),
  duplicate: await failure("CreateContact", { Alias: "jsop-ana", Type: "PERSONAL", Plan: { Stages: [] } }),
  inUse: await failure("DeleteContact", { ContactId: ben }),
};
const quiet = (await call("CreateContactChannel", {
  ContactId: ben, Name: "quiet", Type: "SMS", DeliveryAddress: { SimpleAddress: "+15005550142" },
  DeferActivation: true,
})).ContactChannelArn;
for (let sent = 0; sent < 5; sent += 1) {
  await call("SendActivationCode", { ContactChannelId: quiet });
}
result.errors.quota = await failure("SendActivationCode", { ContactChannelId: quiet });
result.ids.quiet = quiet;

// A request the SDK did not build: an operation the service does not have, a body that is not
// JSON. The server's answers must still become modeled exceptions with a name and a message.
function rewriting(change) {
  const bent = new SSMContactsClient({ endpoint, maxAttempts: 1 });
  bent.middlewareStack.add((next) => async (args) => {
    change(args.request);
    return next(args);
  }, { step: "build", name: "bendRequest" });
  return bent;
}
result.errors.unknownOperation = await failure("ListContacts", {}, rewriting((request) => {
  request.headers["x-amz-target"] = "SSMContacts.PlayMusic";
}));
const withBody = (body) => rewriting((request) => {
  request.body = body;
  request.headers["content-length"] = String(Buffer.byteLength(body));
});
result.errors.malformed = await failure("ListContacts", {}, withBody("{\"MaxResults\": "));
result.errors.notAnObject = await failure("ListContacts", {}, withBody("[1, 2]"));
result.errors.wrongType = await failure("ListContacts", {}, withBody("{\"MaxResults\": \"ten\"}"));

// A client that may retry does not retry a ValidationException.
try {
  const patient = new SSMContactsClient({ endpoint, maxAttempts: 2 });
  await patient.send(new sdk.GetRotationCommand({ RotationId: "not a rotation" }));
  throw new Error("GetRotation succeeded");
} catch (error) {
  result.errors.notRetried = { name: error.name, attempts: error.$metadata?.attempts };
}

// -- deletes --------------------------------------------------------------------------------
// Of resources made for it, so that the test's reads with boto3 find what the SDK read.
const temporary = (await call("CreateContact", {
  Alias: "jsop-temporary", Type: "PERSONAL", Plan: { Stages: [] },
})).ContactArn;
const temporaryRotation = (await call("CreateRotation", {
  Name: "jsop temporary", ContactIds: [temporary], TimeZoneId: "UTC",
  Recurrence: { NumberOfOnCalls: 1, RecurrenceMultiplier: 1,
    DailySettings: [{ HourOfDay: 9, MinuteOfHour: 0 }] },
})).RotationArn;
result.deletes = {
  DeleteRotation: await call("DeleteRotation", { RotationId: temporaryRotation }),
  DeleteContact: await call("DeleteContact", { ContactId: temporary }),
};
result.errors.deletedContact = await failure("GetContact", { ContactId: temporary });
result.errors.deletedRotation = await failure("GetRotation", { RotationId: temporaryRotation });
result.ids.temporary = temporary;
result.ids.temporaryRotation = temporaryRotation;

// -- throttling -----------------------------------------------------------------------------
// The throttled server refills one token every two seconds, with a burst of one: the first
// call passes, the next is refused with Retry-After: 2. A client that may retry once retries
// the refusal (this SDK version reads a numeric Retry-After as a date in 1970, so it waits
// only its own backoff of under half a second, and is refused again; an SDK that waits out
// Retry-After succeeds).
if (throttledEndpoint) {
  const once = new SSMContactsClient({ endpoint: throttledEndpoint, maxAttempts: 1 });
  const drain = async () => {
    const statuses = [];
    for (let i = 0; i < 5; i += 1) {
      try {
        const { $metadata } = await once.send(new sdk.ListRotationsCommand({}));
        statuses.push($metadata.httpStatusCode);
      } catch (error) {
        return { statuses, refused: { ...described(error), retryable: error.$retryable ?? null } };
      }
    }
    throw new Error("the throttled server never refused");
  };
  result.throttled = await drain();
  const patient = new SSMContactsClient({ endpoint: throttledEndpoint, maxAttempts: 2 });
  await drain();
  try {
    const { $metadata } = await patient.send(new sdk.ListRotationsCommand({}));
    result.throttled.retried = { outcome: "success", attempts: $metadata.attempts };
  } catch (error) {
    result.throttled.retried = { outcome: error.name, attempts: error.$metadata?.attempts };
  }
}

// Refusals under SigV4: AccessDeniedException is modeled; the signature refusals are not, and
// come back as the service's base exception named by the error's code.
if (signedEndpoint) {
  const signed = (accessKeyId, secretAccessKey) => new SSMContactsClient({
    endpoint: signedEndpoint, maxAttempts: 1, credentials: { accessKeyId, secretAccessKey },
  });
  const key = process.env.SIGNED_KEY_ID;
  const secret = process.env.SIGNED_SECRET;
  const account = process.env.SIGNED_ACCOUNT;
  const named = (error) => ({ ...described(error), className: error.constructor.name,
    message: error.message.split("\n")[0] });
  const refusal = async (on, command) => {
    try {
      await on.send(command);
    } catch (error) {
      return named(error);
    }
    throw new Error(`${command.constructor.name} succeeded`);
  };
  const contact = `arn:aws:ssm-contacts:us-east-1:${account}:contact/jsop-ana`;
  result.signed = {
    denied: await refusal(signed(key, secret), new sdk.DeleteContactCommand({ ContactId: contact })),
    unknownKey: await refusal(signed("AKIAJSOPNOBODY000000", secret), new sdk.ListContactsCommand({})),
    badSecret: await refusal(signed(key, `${secret}x`), new sdk.ListContactsCommand({})),
    allowed: plain(await signed(key, secret).send(new sdk.ListContactsCommand({}))),
  };
}

result.called = [...called].sort();
result.commands = Object.keys(sdk).filter((k) => k.endsWith("Command") && k !== "$Command")
  .map((k) => k.slice(0, -"Command".length)).sort();
console.log(JSON.stringify(result));
