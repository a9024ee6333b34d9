# the fields a responder reads first
[.auditID, .verb, .user.username]
