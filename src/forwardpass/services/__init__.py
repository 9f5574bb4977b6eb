"""The service layer the management API, the pages and the CLI share: importing models
(`models`), changing a deployment in one transaction (`changes`), describing one as data
(`descriptions`), its OpenAPI document (`openapi`) and the admin credential (`admin_auth`)."""
