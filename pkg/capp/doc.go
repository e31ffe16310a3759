// Package capp reads (and builds) WSO2 Micro Integrator Carbon Applications,
// the .car files integrations are shipped in. It is pure: it reads the one
// file it is given and nothing else, and it knows nothing of mictl's
// instances, its simulator or its configuration.
//
// # What a .car holds (docs/mi-integrations.md, "CApp layout")
//
// A .car is a zip. At its root artifacts.xml names the application and lists
// its dependencies:
//
//	<artifacts>
//	  <artifact name="SampleCApp" version="1.0.0" type="carbon/application">
//	    <dependency artifact="SampleAPI" version="1.0.0" include="true" serverRole="EnterpriseServiceBus"/>
//	  </artifact>
//	</artifacts>
//
// Each dependency lives in a top-level folder (by convention
// SampleAPI_1.0.0/) holding artifact.xml, which names the artifact and its
// file, and the file itself (the API's, inbound endpoint's, ... own XML).
// As MI does, a dependency is matched to the folder whose artifact.xml has
// its name and version, whatever the folder is called and in whatever order
// the zip stores it. A dependency with include="false" is kept in
// App.Artifacts, marked, and needs no folder.
//
// # Inbound endpoints and their ports
//
// Inbound endpoints open listeners of their own, on ports MI reads from
// their parameters (inbound.http.port, inbound.ws.port, inbound.hl7.Port,
// ...). App.Inbounds lists every such listener with the rule by which MI
// adds the server's port offset to it (OffsetRule); Inbound.Effective gives
// the port MI will bind.
//
// # Refusals
//
// Read refuses, with an *Error naming the file, the reason and what to do: a
// file that is not a regular file, larger than MaxFileSize (told by its size,
// never read), not a zip, with more than MaxEntries entries, an entry whose
// name escapes the archive (../x, /x, C:\x) or appears twice, no
// artifacts.xml at the root, malformed XML, an XML entry larger than
// MaxXMLSize once decompressed (zip bombs), a dependency whose artifact.xml or
// file is missing, and an inbound endpoint port that is neither an integer
// in 1-65535 nor a synapse placeholder MI resolves at run time
// ($SYSTEM:NAME, $FILE:key; Inbound.AtRunTime). Error.Stage tells where it
// failed, which is what MI's own outcome depends on: see Stage.
package capp
