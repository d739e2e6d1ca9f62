// Contacts and channels with the AWS SDK for JavaScript v3 against an incident-contacts server:
// create, read and list a contact and a channel (listing page by page with the SDK's own
// paginator), and read two errors as the SDK reports them. Prints one JSON line.
// Usage: node contacts.mjs <endpoint-url> (credentials and region come from the usual AWS_*
// environment variables).
import {
  CreateContactChannelCommand,
  CreateContactCommand,
  GetContactChannelCommand,
  GetContactCommand,
  ListContactChannelsCommand,
  paginateListContacts,
  SSMContactsClient,
} from "@aws-sdk/client-ssm-contacts";

const endpoint = process.argv[2];
if (!endpoint) throw new Error("usage: node contacts.mjs <endpoint-url>");
const client = new SSMContactsClient({ endpoint, maxAttempts: 1 });

const created = [];
for (const alias of ["js-akua", "js-bongani", "js-chidi"]) {
  const { ContactArn } = await client.send(
    new CreateContactCommand({
      Alias: alias,
      DisplayName: `Person ${alias.slice(3)}`,
      Type: "PERSONAL",
      Plan: { Stages: [] },
      Tags: [{ Key: "team", Value: "sre" }],
    }),
  );
  created.push(ContactArn);
}
const contact = await client.send(new GetContactCommand({ ContactId: created[0] }));

const pages = [];
for await (const page of paginateListContacts({ client, pageSize: 2 }, { AliasPrefix: "js-" })) {
  pages.push(page.Contacts.map((c) => c.Alias));
}

const { ContactChannelArn } = await client.send(
  new CreateContactChannelCommand({
    ContactId: created[0],
    Name: "work mail",
    Type: "EMAIL",
    DeliveryAddress: { SimpleAddress: "akua@example.com" },
    DeferActivation: true,
  }),
);
const channel = await client.send(
  new GetContactChannelCommand({ ContactChannelId: ContactChannelArn }),
);
const { ContactChannels } = await client.send(
  new ListContactChannelsCommand({ ContactId: created[0] }),
);

async function failure(command) {
  try {
    await client.send(command);
  } catch (error) {
    return {
      name: error.name,
      status: error.$metadata?.httpStatusCode,
      requestId: error.$metadata?.requestId,
      resourceType: error.ResourceType,
      reason: error.Reason,
      fields: error.Fields,
    };
  }
  throw new Error(`${command.constructor.name} succeeded`);
}

const notFound = await failure(new GetContactCommand({ ContactId: `${created[0]}-gone` }));
const invalid = await failure(
  new CreateContactCommand({ Alias: "Not Valid", Type: "PERSONAL", Plan: { Stages: [] } }),
);

console.log(JSON.stringify({
  created,
  contact: {
    ContactArn: contact.ContactArn,
    Alias: contact.Alias,
    DisplayName: contact.DisplayName,
    Type: contact.Type,
    Plan: contact.Plan,
  },
  pages,
  channel: {
    ContactArn: channel.ContactArn,
    ContactChannelArn: channel.ContactChannelArn,
    Name: channel.Name,
    Type: channel.Type,
    DeliveryAddress: channel.DeliveryAddress,
    ActivationStatus: channel.ActivationStatus,
  },
  listedChannels: ContactChannels.map((c) => c.ContactChannelArn),
  notFound,
  invalid,
}));
