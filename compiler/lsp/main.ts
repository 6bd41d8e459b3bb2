// Entry point of the bundled server the VS Code extension ships (editors/vscode/dist):
// the transport comes from the command line (--stdio, --node-ipc or --socket=N), as
// vscode-languageclient passes it.
import { createConnection, ProposedFeatures } from "vscode-languageserver/node";
import { createServer } from "./server.js";

const connection = createConnection(ProposedFeatures.all);
createServer(connection);
connection.listen();
