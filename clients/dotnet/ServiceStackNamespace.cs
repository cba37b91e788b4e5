// What "Add ServiceStack Reference" puts in a client: the DTOs' data contracts in
// ServiceStack's usual namespace instead of the one their CLR namespace implies.
[assembly: System.Runtime.Serialization.ContractNamespace("http://schemas.servicestack.net/types", ClrNamespace = "Cdn.Api")]
