// The activation flow with the AWS SDK for JavaScript v3 against an incident-contacts server:
// create a contact and a channel with deferred activation, send a code, read it from the
// messages endpoint, activate, and see ACTIVATED. Usage: node activation.mjs <endpoint-url>
// (credentials and region come from the usual AWS_* environment variables).
import {
  ActivateContactChannelCommand,
  CreateContactChannelCommand,
  CreateContactCommand,
  GetContactChannelCommand,
  SendActivationCodeCommand,
  SSMContactsClient,
} from "@aws-sdk/client-ssm-contacts";

const endpoint = process.argv[2];
if (!endpoint) throw new Error("usage: node activation.mjs <endpoint-url>");
const client = new SSMContactsClient({ endpoint, maxAttempts: 1 });
const alias = `js-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

const { ContactArn } = await client.send(
  new CreateContactCommand({ Alias: alias, Type: "PERSONAL", Plan: { Stages: [] } }),
);
const { ContactChannelArn } = await client.send(
  new CreateContactChannelCommand({
    ContactId: ContactArn,
    Name: "phone",
    Type: "SMS",
    DeliveryAddress: { SimpleAddress: "+15005550199" },
    DeferActivation: true,
  }),
);

async function messages() {
  const url = new URL("/_aws/ssm-contacts/messages", endpoint);
  url.searchParams.set("ContactChannelArn", ContactChannelArn);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`messages endpoint answered ${response.status}`);
  return (await response.json()).messages;
}

const before = await messages();
await client.send(new SendActivationCodeCommand({ ContactChannelId: ContactChannelArn }));
const after = await messages();
const code = after[after.length - 1].ActivationCode;

const { ActivationStatus: initial } = await client.send(
  new GetContactChannelCommand({ ContactChannelId: ContactChannelArn }),
);
await client.send(
  new ActivateContactChannelCommand({ ContactChannelId: ContactChannelArn, ActivationCode: code }),
);
const { ActivationStatus: final } = await client.send(
  new GetContactChannelCommand({ ContactChannelId: ContactChannelArn }),
);

console.log(JSON.stringify({
  contactChannelArn: ContactChannelArn,
  messagesBefore: before.length,
  messagesAfter: after.length,
  code,
  initialStatus: initial,
  finalStatus: final,
}));
