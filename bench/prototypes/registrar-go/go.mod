module leasehold/registrar-go

go 1.19
