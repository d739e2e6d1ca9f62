from incident_contacts.cli import main

main()
