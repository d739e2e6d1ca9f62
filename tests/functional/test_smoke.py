def test_create_and_get(client):
    arn = client.create_contact(Alias="akuam", Type="PERSONAL", Plan={"Stages": []})["ContactArn"]
    assert client.get_contact(ContactId=arn)["Alias"] == "akuam"
